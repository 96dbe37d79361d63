//! Helpers shared by the CLI tests: running the real binary, bounded waits,
//! a tiny HTTP/1.1 client and a fake `/proc` tree; `prometheus` holds
//! promtool and a real Prometheus server.

pub(crate) mod prometheus;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The `vitals` binary under test.
pub(crate) fn vitals() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vitals"))
}

/// Runs `vitals ARGS` to completion (bounded by the test harness) and returns its output.
pub(crate) fn run(args: &[&str]) -> Output {
    vitals()
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// `vitals gen-db --out DIR/NAME EXTRA...`, asserted to succeed; returns the path.
pub(crate) fn gen_db(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let mut args = vec!["gen-db", "--out", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = run(&args);
    assert!(out.status.success(), "gen-db failed: {}", text(&out.stderr));
    path
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A running `vitals` process that is killed (SIGKILL) and reaped when
/// dropped, so that a failing test never leaves it behind. Its stdout is
/// read line by line on a thread.
pub(crate) struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    /// Starts `vitals ARGS` with piped stdout and stderr (stderr collected
    /// on a thread so the child never blocks on a full pipe).
    pub(crate) fn start(args: &[&str]) -> Self {
        let mut child = vitals()
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        thread::spawn(move || {
            // Drain stderr to our own (visible with --nocapture).
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[vitals] {line}");
            }
        });
        Self { child, lines }
    }

    pub(crate) fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap()
    }

    /// The first stdout line starting with `prefix`, waiting at most `limit`.
    pub(crate) fn line_starting_with(&self, prefix: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(_) => {}
                Err(error) => {
                    panic!("no stdout line starting with {prefix:?} within {limit:?}: {error}")
                }
            }
        }
    }

    /// The address in the first stdout line `PREFIXhttp://ADDR/metrics`.
    pub(crate) fn address(&self, prefix: &str) -> String {
        let line = self.line_starting_with(prefix, Duration::from_secs(30));
        line.trim_start_matches(prefix)
            .trim_start_matches("http://")
            .trim_end_matches("/metrics")
            .to_owned()
    }

    /// Sends `signal` to the process.
    pub(crate) fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), signal).unwrap();
    }

    /// Waits at most `limit` for the process to exit.
    pub(crate) fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Response {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// `GET target` over a new connection to `addr` (HTTP/1.1, `Connection: close`).
pub(crate) fn get(addr: &str, target: &str, headers: &[(&str, &str)]) -> Response {
    let raw = get_bytes(addr, target, headers);
    Response {
        status: raw.status,
        headers: raw.headers,
        body: String::from_utf8(raw.body).unwrap(),
    }
}

/// An HTTP answer whose body is kept as bytes (a gzip body, say).
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl RawResponse {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// [`get`], with the body as bytes.
pub(crate) fn get_bytes(addr: &str, target: &str, headers: &[(&str, &str)]) -> RawResponse {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut request = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    RawResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_text = std::str::from_utf8(&data[..end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        data = &data[end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// The pids of the running jobs of a database, read-only.
pub(crate) fn running_pids(db: &Path) -> Vec<i64> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut stmt = conn
        .prepare("SELECT pid FROM jobs WHERE status = 'running' ORDER BY id")
        .unwrap();
    stmt.query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The CPU ticks the fake `/proc` gives `pid` (utime + stime).
pub(crate) fn fake_ticks(pid: i64) -> i64 {
    (pid % 1000) * 3
}

/// A directory laid out like `/proc` holding a live-looking process for each
/// of `pids` (the generator's pids are above the real `pid_max`, so the fake
/// tree raises it), with `utime = 2 * fake_ticks / 3` and `stime = fake_ticks / 3`.
pub(crate) fn fake_proc_root(dir: &Path, pids: &[i64]) -> PathBuf {
    let root = dir.join("proc");
    fs::create_dir_all(root.join("sys/kernel")).unwrap();
    fs::write(root.join("sys/kernel/pid_max"), "8388608\n").unwrap();
    fs::write(
        root.join("stat"),
        "cpu  10 0 20 300 0 0 0 0 0 0\nintr 42 0\nctxt 1000\nbtime 1795835728\nprocesses 500\n",
    )
    .unwrap();
    for &pid in pids {
        let ticks = fake_ticks(pid);
        let (utime, stime) = (ticks / 3 * 2, ticks / 3);
        let line = format!(
            "{pid} (agent) S 1 {pid} {pid} 0 -1 4194560 5421 0 12 0 {utime} {stime} \
             0 0 20 0 4 0 1000 1150976000 100 18446744073709551615 \
             1 1 0 0 0 0 0 4096 134295555 0 0 0 17 1 0 0 0 0 0 1 1 1 1 1 1 1 0\n"
        );
        fs::create_dir_all(root.join(pid.to_string())).unwrap();
        fs::write(root.join(format!("{pid}/stat")), line).unwrap();
    }
    root
}

/// The four built-in sections.
pub(crate) const SECTIONS: [&str; 4] = ["stages", "queue", "agents", "cost"];

/// Asserts that `body` is a full contract-v1 snapshot whose four sections are `ok`.
pub(crate) fn assert_all_sections_ok(body: &serde_json::Value) {
    assert_eq!(body["schema_version"], 1, "{body}");
    for key in SECTIONS {
        assert!(body.get(key).is_some(), "missing section {key}: {body}");
        assert_eq!(
            body["collector"]["sections"][key]["status"], "ok",
            "section {key}: {}",
            body["collector"]
        );
    }
}
