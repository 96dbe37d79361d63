//! Prometheus' own tools for end-to-end tests: `promtool check metrics`, and
//! a real Prometheus server on a free loopback port (a config and optional
//! rule files written to a temporary directory, its output to a file there,
//! bounded waits, stopped when dropped).
//!
//! Both come from Debian's `prometheus` package, which `.ci/run` installs.
//! Outside CI a missing tool skips the test with a line on stderr saying so;
//! with `CI=true` a missing tool fails the test: CI never passes silently.

use std::fs::{self, File};
use std::io::Write as _;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long Prometheus may take to answer `/-/ready`.
const READY_LIMIT: Duration = Duration::from_secs(60);
/// How long a stopped Prometheus may take to exit before it is killed.
const STOP_LIMIT: Duration = Duration::from_secs(15);

/// Whether this run is CI's (`CI=true`), where a missing tool is a failure.
pub(crate) fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true"))
}

/// The path of the executable `name` on `PATH`. When it is missing: a panic
/// under CI, otherwise `None` and a line on stderr naming the skipped test
/// and why.
pub(crate) fn tool(name: &str, test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        assert!(
            !in_ci(),
            "{test}: `{name}` is not installed, and CI=true: .ci/run installs Debian's \
             `prometheus` package, which holds it"
        );
        // Straight to the process's stderr, not through `eprintln!`, which
        // the test harness captures for a passing test: a skip must show.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: `{name}` is not on PATH (Debian's `prometheus` package has it; \
             `apt-get install prometheus`). Under CI=true this fails instead."
        );
    }
    found
}

/// `promtool check metrics` over `exposition` (its stdin); `None` when
/// promtool is missing outside CI.
pub(crate) fn promtool_check_metrics(exposition: &str, test: &str) -> Option<Output> {
    let promtool = tool("promtool", test)?;
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = exposition.to_owned();
    // Written on a thread, so that a promtool that stops reading cannot block the test.
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    Some(output)
}

/// A free TCP port on 127.0.0.1 (bound, then released for the server).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Prometheus server started by a test. Dropping it stops it.
pub(crate) struct Prometheus {
    child: Child,
    /// `127.0.0.1:PORT` of its HTTP API.
    addr: String,
    log: PathBuf,
    started: Instant,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus with `config` (YAML without `rule_files`) and the
    /// rule files `rules` (`(file name, YAML)`, listed in the config by this
    /// function), and waits until it is ready. `None` when Prometheus is not
    /// installed outside CI (the test says it is skipped).
    pub(crate) fn start(config: &str, rules: &[(&str, &str)], test: &str) -> Option<Self> {
        let binary = tool("prometheus", test)?;
        let dir = tempfile::Builder::new()
            .prefix("vitals-prometheus-")
            .tempdir()
            .unwrap();
        let mut full = config.to_owned();
        if !rules.is_empty() {
            let rules_dir = dir.path().join("rules");
            fs::create_dir_all(&rules_dir).unwrap();
            full.push_str("\nrule_files:\n");
            for (name, yaml) in rules {
                let path = rules_dir.join(name);
                fs::write(&path, yaml).unwrap();
                full.push_str(&format!("  - {}\n", path.display()));
            }
        }
        let config_path = dir.path().join("prometheus.yml");
        fs::write(&config_path, &full).unwrap();
        let log = dir.path().join("prometheus.log");
        let out = File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=info")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap();
        let mut server = Self {
            child,
            addr,
            log,
            started: Instant::now(),
            _dir: dir,
        };
        server.wait_ready();
        Some(server)
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_LIMIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "prometheus exited early ({status}); its log:\n{}",
                    self.log()
                );
            }
            if self
                .try_get("/-/ready")
                .is_some_and(|(status, _)| status == 200)
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready within {READY_LIMIT:?}; its log:\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// What Prometheus wrote to stdout and stderr so far.
    pub(crate) fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How long since it was started.
    pub(crate) fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// `GET path` on its HTTP API: status and body, `None` when it cannot be reached.
    fn try_get(&self, path: &str) -> Option<(u16, String)> {
        // `super::get` panics on a refused connection; check first.
        std::net::TcpStream::connect(&self.addr).ok()?;
        let answer = super::get(&self.addr, path, &[]);
        Some((answer.status, answer.body))
    }

    /// `GET /api/v1/PATH_AND_QUERY`, asserted to succeed: its `data`.
    pub(crate) fn api(&self, path_and_query: &str) -> Value {
        let path = format!("/api/v1/{path_and_query}");
        let (status, body) = self
            .try_get(&path)
            .unwrap_or_else(|| panic!("prometheus unreachable; its log:\n{}", self.log()));
        let json: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {body}"));
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(json["status"], "success", "{path}: {body}");
        json["data"].clone()
    }

    /// An instant query: the `result` vector of `promql`.
    pub(crate) fn query(&self, promql: &str) -> Vec<Value> {
        let data = self.api(&format!("query?query={}", url_encode(promql)));
        data["result"].as_array().cloned().unwrap_or_default()
    }

    /// Repeats the instant query `promql` until `done` accepts its result, at
    /// most `limit`; returns that result (panics with the log otherwise).
    pub(crate) fn wait_for(
        &self,
        promql: &str,
        limit: Duration,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + limit;
        loop {
            let result = self.query(promql);
            if done(&result) {
                return result;
            }
            assert!(
                Instant::now() < deadline,
                "`{promql}` did not reach the expected result within {limit:?}: {result:?}\n\
                 targets: {}\nprometheus log:\n{}",
                self.api("targets"),
                self.log()
            );
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stops the server: SIGTERM, then SIGKILL when it has not exited within
    /// a bound. Returns its log.
    pub(crate) fn stop(mut self) -> String {
        self.terminate();
        self.log()
    }

    fn terminate(&mut self) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let deadline = Instant::now() + STOP_LIMIT;
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// One sample of an instant-query result: its labels and value.
pub(crate) fn sample(result: &Value) -> (&serde_json::Map<String, Value>, f64) {
    let labels = result["metric"].as_object().unwrap();
    let value = result["value"][1].as_str().unwrap().parse().unwrap();
    (labels, value)
}

/// Percent-encodes a query parameter value.
pub(crate) fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The scrape config of one job: `target` (`HOST:PORT`) scraped every
/// second, with `format` as the `format` query parameter (`None`: what
/// Prometheus negotiates with its own `Accept` header).
pub(crate) fn scrape_job(job: &str, target: &str, format: Option<&str>) -> String {
    let params = format.map_or_else(String::new, |f| {
        format!("    params:\n      format: [\"{f}\"]\n")
    });
    format!(
        "  - job_name: \"{job}\"\n    scrape_interval: 1s\n    scrape_timeout: 1s\n{params}    \
         static_configs:\n      - targets: [\"{target}\"]\n"
    )
}
