//! Helpers shared by the CLI tests: running the real binary, bounded waits,
//! a tiny HTTP/1.1 client and a fake `/proc` tree; `prometheus` holds
//! promtool and a real Prometheus server, `agents` real busy and sleeping
//! agent processes.

pub(crate) mod agents;
pub(crate) mod prometheus;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
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
/// dropped, so that a failing test never leaves it behind. Its stdout and
/// stderr go to files in a temporary directory of its own (never to a pipe
/// nobody reads); a failing test prints the stderr file.
pub(crate) struct Running {
    child: Child,
    dir: tempfile::TempDir,
    /// Stdout lines already consumed by [`Running::line_starting_with`].
    seen: usize,
}

impl Running {
    /// Starts `vitals ARGS`, stdout and stderr to files.
    pub(crate) fn start(args: &[&str]) -> Self {
        Self::start_with(args, None, &[])
    }

    /// Starts `vitals ARGS` with `stderr` (default: a file) and extra environment variables.
    pub(crate) fn start_with(args: &[&str], stderr: Option<Stdio>, env: &[(&str, &str)]) -> Self {
        let mut command = vitals();
        command.args(args).env_remove("RUST_LOG");
        for (name, value) in env {
            command.env(name, value);
        }
        Self::spawn(command, stderr)
    }

    /// Starts `vitals ARGS` under a file-descriptor limit of `nofile` (set
    /// by `sh`'s `ulimit -n`, which then `exec`s it: same pid).
    pub(crate) fn start_with_fd_limit(args: &[&str], nofile: u32) -> Self {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("ulimit -n {nofile} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_vitals"))
            .args(args)
            .env_remove("RUST_LOG");
        Self::spawn(command, None)
    }

    /// Starts `command`, stdout (and stderr, unless given) to files.
    fn spawn(mut command: Command, stderr: Option<Stdio>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let stdout = fs::File::create(dir.path().join("stdout")).unwrap();
        let stderr = stderr
            .unwrap_or_else(|| Stdio::from(fs::File::create(dir.path().join("stderr")).unwrap()));
        command.stdin(Stdio::null()).stdout(stdout).stderr(stderr);
        let child = command.spawn().unwrap();
        Self {
            child,
            dir,
            seen: 0,
        }
    }

    pub(crate) fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap()
    }

    /// Everything the process wrote to stdout so far.
    pub(crate) fn stdout_text(&self) -> String {
        fs::read_to_string(self.dir.path().join("stdout")).unwrap_or_default()
    }

    /// Everything the process wrote to stderr so far (empty when stderr was
    /// not a file).
    pub(crate) fn stderr_text(&self) -> String {
        fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }

    /// The first stdout line not yet consumed that starts with `prefix`,
    /// waiting at most `limit`; lines before it are consumed too.
    pub(crate) fn line_starting_with(&mut self, prefix: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let text = self.stdout_text();
            // Only whole lines: the last one may still be being written.
            let complete: Vec<&str> = text
                .split_inclusive('\n')
                .filter(|l| l.ends_with('\n'))
                .collect();
            while self.seen < complete.len() {
                let line = complete[self.seen].trim_end_matches('\n');
                self.seen += 1;
                if line.starts_with(prefix) {
                    return line.to_owned();
                }
            }
            assert!(
                Instant::now() < deadline,
                "no stdout line starting with {prefix:?} within {limit:?}; stdout: {text}\nstderr: {}",
                self.stderr_text()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits at most `limit` for a stderr line containing `needle`; returns it.
    pub(crate) fn log_line_containing(&self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let text = self.stderr_text();
            if let Some(line) = text.lines().find(|l| l.contains(needle)) {
                return line.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no log line containing {needle:?} within {limit:?}; stderr: {text}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The address in the first stdout line `PREFIXhttp://ADDR/metrics`.
    pub(crate) fn address(&mut self, prefix: &str) -> String {
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
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!("[vitals stderr]\n{}", self.stderr_text());
        }
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
    try_get(addr, target, headers).unwrap_or_else(|e| panic!("GET {target} on {addr}: {e}"))
}

/// [`get`], with an error instead of a panic when the exchange fails (a
/// refused or closed connection, no complete answer within 20 s, a body
/// that is not UTF-8).
pub(crate) fn try_get(
    addr: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<Response> {
    let raw = try_get_bytes(addr, target, headers)?;
    let body = String::from_utf8(raw.body)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "body not UTF-8"))?;
    Ok(Response {
        status: raw.status,
        headers: raw.headers,
        body,
    })
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
    try_get_bytes(addr, target, headers).unwrap_or_else(|e| panic!("GET {target} on {addr}: {e}"))
}

/// [`get_bytes`], with an error instead of a panic when the exchange fails.
pub(crate) fn try_get_bytes(
    addr: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<RawResponse> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    stream.set_write_timeout(Some(Duration::from_secs(20)))?;
    let mut request = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no header block"))?;
    let head = String::from_utf8(raw[..split].to_vec()).map_err(|_| bad("head not UTF-8"))?;
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| bad("no status line"))?;
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
    Ok(RawResponse {
        status,
        headers,
        body,
    })
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

/// A small database with one running agent, and a fake `/proc` in which that
/// agent's `stat` is a FIFO nobody writes: reading it blocks for good (the
/// hung read of issue #10). Returns the database and the proc root.
pub(crate) fn hung_agent(dir: &Path) -> (PathBuf, PathBuf) {
    let db = gen_db(
        dir,
        "hung.db",
        &[
            "--tasks",
            "4",
            "--active-tasks",
            "1",
            "--jobs",
            "3",
            "--runs",
            "3",
            "--running",
            "1",
            "--queued",
            "1",
        ],
    );
    let pids = running_pids(&db);
    let proc_root = fake_proc_root(dir, &pids);
    let stat = proc_root.join(format!("{}/stat", pids[0]));
    fs::remove_file(&stat).unwrap();
    nix::unistd::mkfifo(
        &stat,
        nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
    )
    .unwrap();
    (db, proc_root)
}

/// [`hung_agent`], and the serving process's own `stat` under the fake
/// `/proc` (`self/stat`, which the `process` section of `vitals serve`
/// reads) a FIFO nobody writes too. The agent's hung read costs that agent
/// only (its own budget); the `process` section's hung read keeps the
/// section's run in flight past its deadline (`timeout`, then `busy`), the
/// blocking work a serving process must abandon at shutdown.
pub(crate) fn hung_reads(dir: &Path) -> (PathBuf, PathBuf) {
    let (db, proc_root) = hung_agent(dir);
    let own = proc_root.join("self");
    fs::create_dir_all(&own).unwrap();
    nix::unistd::mkfifo(
        &own.join("stat"),
        nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
    )
    .unwrap();
    (db, proc_root)
}
