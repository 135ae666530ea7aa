//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

/// The repository root (where Cargo.toml is).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixtures() -> PathBuf {
    repo().join("tests/fixtures")
}

/// Compare `actual` with the file at `path`; with `TENANTRY_BLESS=1`, write it instead.
pub fn expect_file(path: &Path, actual: &str) {
    if std::env::var_os("TENANTRY_BLESS").is_some() {
        std::fs::write(path, actual).expect("write expected file");
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|_| {
        panic!("{} is missing; run with TENANTRY_BLESS=1 to create it, then review it", path.display())
    });
    assert_eq!(
        expected,
        actual,
        "{} differs from the actual output (TENANTRY_BLESS=1 rewrites it; review the diff before committing)",
        path.display()
    );
}

/// Every YAML file under `dir`, sorted.
pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The tenantry binary built for these tests.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tenantry"))
}

/// A copy of the example manifests in a fresh directory (so runs do not share state).
pub fn example_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&repo().join("manifests"), dir.path());
    dir
}

pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        if name == ".tenantry" {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_tree(&path, &to.join(&name));
        } else {
            std::fs::copy(&path, to.join(&name)).expect("copy");
        }
    }
}

/// What a finished tenantry process printed.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Stderr first and the end of stdout: a failing run's reasons are at its end, and CI
        // logs keep only part of a long message.
        let lines: Vec<&str> = self.stdout.lines().collect();
        let stdout = if lines.len() > 80 {
            format!(
                "{}\n[... {} lines ...]\n{}",
                lines[..10].join("\n"),
                lines.len() - 70,
                lines[lines.len() - 60..].join("\n")
            )
        } else {
            self.stdout.clone()
        };
        write!(f, "exit {}\n--- stderr\n{}\n--- stdout\n{stdout}", self.code, self.stderr)
    }
}

/// `tenantry ARGS` with a clean environment for colour and logs.
pub fn command(args: &[&str]) -> std::process::Command {
    let mut c = std::process::Command::new(bin());
    c.args(args)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .env_remove("TENANTRY_SANDBOX_URL")
        .env_remove("TENANTRY_STATE");
    c.stdin(std::process::Stdio::null());
    c
}

pub fn run(args: &[&str]) -> Run {
    run_with(command(args))
}

pub fn run_with(mut c: std::process::Command) -> Run {
    let out = c.output().expect("run tenantry");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A `tenantry sandbox serve` process, stopped when dropped.
pub struct Served {
    pub child: std::process::Child,
    pub admin: String,
    /// Each simulator's base URL, by vendor (`acronis`: `http://127.0.0.1:PORT/api/2`).
    pub urls: serde_json::Value,
}

impl Served {
    pub fn start(extra: &[&str]) -> Served {
        use std::io::BufRead;
        let mut args = vec!["sandbox", "serve", "--json"];
        args.extend_from_slice(extra);
        let mut c = command(&args);
        c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null());
        let mut child = c.spawn().expect("start the sandbox");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line).expect("read the sandbox URLs");
        let urls: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("sandbox said {line:?}: {e}"));
        let admin = urls["admin"].as_str().expect("admin url").to_string();
        Served { child, admin, urls }
    }

    /// `tenantry ARGS` against this sandbox.
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut c = command(args);
        c.env("TENANTRY_SANDBOX_URL", &self.admin);
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        run_with(self.command(args))
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        client()
            .post(format!("{}{path}", self.admin))
            .json(&body)
            .send()
            .await
            .expect("POST")
            .json()
            .await
            .expect("JSON")
    }

    pub async fn get(&self, path: &str) -> serde_json::Value {
        let url = format!("{}{path}", self.admin);
        client().get(url).send().await.expect("GET").json().await.expect("JSON")
    }

    /// Call a VCO API v1 method on the simulator with the partner's token, as the portal (or a
    /// person's script) would: the HTTP status and the answer.
    pub async fn vco(&self, method: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let base = self.urls["velocloud"].as_str().expect("VCO url");
        let token = format!("Token {}", tenantry::sandbox::credentials::VCO_TOKEN);
        let resp = client()
            .post(format!("{base}/{method}"))
            .header("authorization", token)
            .json(&body)
            .send()
            .await
            .expect("VCO answer");
        (resp.status().as_u16(), resp.json().await.expect("VCO JSON"))
    }

    pub async fn dump(&self) -> serde_json::Value {
        self.get("/_sandbox/dump").await
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP client for talking to simulators directly.
pub fn client() -> reqwest::Client {
    tenantry::provider::http::client_builder().timeout(std::time::Duration::from_secs(30)).build().expect("client")
}

/// A running `tenantry` command (`watch`, `serve`), its stdout and stderr read line by line as
/// they come; killed when dropped.
pub struct Streaming {
    pub child: std::process::Child,
    lines: std::sync::mpsc::Receiver<(bool, String)>,
    /// Everything printed so far (stderr lines prefixed with `E: `).
    pub seen: String,
}

impl Streaming {
    pub fn spawn(mut c: std::process::Command) -> Streaming {
        use std::io::BufRead;
        c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        let mut child = c.spawn().expect("start tenantry");
        let (tx, lines) = std::sync::mpsc::channel();
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        for (is_err, stream) in [(false, Box::new(out) as Box<dyn std::io::Read + Send>), (true, Box::new(err))] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send((is_err, line)).is_err() {
                        break;
                    }
                }
            });
        }
        Streaming { child, lines, seen: String::new() }
    }

    /// Read until a stdout line starts with `until`; what was printed since the last call. The
    /// bound is generous (a shared machine); it only ends a hung test, it measures nothing.
    pub fn next(&mut self, until: &str) -> String {
        self.read_until(|is_err, line| !is_err && line.starts_with(until), until)
    }

    /// Read until a stdout line contains `needle`.
    pub fn next_with(&mut self, needle: &str) -> String {
        self.read_until(|is_err, line| !is_err && line.contains(needle), needle)
    }

    /// Read until a stderr line contains `needle` (stderr and stdout are read by two threads,
    /// so a diagnostic may arrive after the stdout line that follows it).
    pub fn next_err(&mut self, needle: &str) -> String {
        self.read_until(|is_err, line| is_err && line.contains(needle), needle)
    }

    pub fn read_until(&mut self, done: impl Fn(bool, &str) -> bool, what: &str) -> String {
        use std::sync::mpsc::RecvTimeoutError;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
        let mut chunk = String::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((is_err, line)) => {
                    let shown = if is_err { format!("E: {line}\n") } else { format!("{line}\n") };
                    chunk.push_str(&shown);
                    self.seen.push_str(&shown);
                    if done(is_err, &line) {
                        return chunk;
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    let _ = self.child.kill();
                    panic!("no line with {what:?}; the command printed:\n{}", self.seen)
                }
            }
        }
    }

    /// Send `signal` (SIGINT as Ctrl-C does, SIGTERM as a service manager does), and wait for
    /// the exit status; what it printed meanwhile is added to `seen`.
    pub fn signal(&mut self, signal: libc::c_int) -> std::process::ExitStatus {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling a child process this test started and has not reaped.
        unsafe { libc::kill(pid, signal) };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
        loop {
            while let Ok((is_err, line)) = self.lines.try_recv() {
                self.seen.push_str(&if is_err { format!("E: {line}\n") } else { format!("{line}\n") });
            }
            if let Some(status) = self.child.try_wait().expect("wait for tenantry") {
                // What it printed last.
                std::thread::sleep(std::time::Duration::from_millis(100));
                while let Ok((is_err, line)) = self.lines.try_recv() {
                    self.seen.push_str(&if is_err { format!("E: {line}\n") } else { format!("{line}\n") });
                }
                return status;
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("tenantry did not stop on signal {signal}:\n{}", self.seen);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
