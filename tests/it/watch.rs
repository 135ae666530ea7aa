//! `tenantry watch`: a manifest edit re-plans only what it touches, an invalid edit plans
//! nothing and keeps the previous manifests, and nothing is ever applied.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::support::{command, example_copy, run};

/// A running `tenantry watch`, its stdout and stderr read line by line as they come.
struct Watching {
    child: Child,
    lines: Receiver<(bool, String)>,
    /// Everything printed so far (stderr lines prefixed with `E: `).
    seen: String,
}

impl Watching {
    fn start(dir: &str) -> Watching {
        let mut c = command(&["watch", "--sandbox", dir, "--debounce", "200ms"]);
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().expect("start tenantry watch");
        let (tx, lines) = std::sync::mpsc::channel();
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        for (is_err, stream) in [(false, Box::new(out) as Box<dyn std::io::Read + Send>), (true, Box::new(err))] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send((is_err, line)).is_err() {
                        break;
                    }
                }
            });
        }
        Watching { child, lines, seen: String::new() }
    }

    /// Read until a stdout line starts with `until`; what was printed since the last call. The
    /// bound is generous (a shared machine); it only ends a hung test, it measures nothing.
    fn next(&mut self, until: &str) -> String {
        self.read_until(|is_err, line| !is_err && line.starts_with(until), until)
    }

    /// Read until a stderr line contains `needle` (stderr and stdout are read by two threads,
    /// so a diagnostic may arrive after the stdout line that follows it).
    fn next_err(&mut self, needle: &str) -> String {
        self.read_until(|is_err, line| is_err && line.contains(needle), needle)
    }

    fn read_until(&mut self, done: impl Fn(bool, &str) -> bool, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut chunk = String::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
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
                    panic!("no line with {what:?}; watch printed:\n{}", self.seen)
                }
            }
        }
    }

    /// Ctrl-C, and its exit status.
    fn interrupt(mut self) -> std::process::ExitStatus {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling a child process this test started and has not reaped.
        unsafe { libc::kill(pid, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for watch") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("watch did not stop on Ctrl-C:\n{}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The owners whose plan a chunk of watch output shows (`Customer/acme  Acme Corp` headings).
fn owners_planned(chunk: &str) -> Vec<&str> {
    chunk
        .lines()
        .filter(|l| l.starts_with("Customer/") || l.starts_with("Reseller/"))
        .filter_map(|l| l.split_whitespace().next())
        .collect()
}

fn edit(path: &std::path::Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} holds {from:?}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn an_edit_replans_only_what_it_touches_and_an_invalid_one_keeps_the_previous_manifests() {
    let dir = example_copy();
    let d = dir.path().display().to_string();
    let first = run(&["apply", "--sandbox", &d, "--auto-approve"]);
    assert_eq!(first.code, 0, "{first}");
    let dump = || run(&["sandbox", "dump", &d]).stdout;
    let world = dump();

    let mut watch = Watching::start(&d);
    let start = watch.next("Plan:");
    assert!(start.contains("Plan for every customer and reseller:"), "{start}");
    assert!(start.contains("No changes."), "{start}");

    // One customer's file: a plan for that customer only.
    let acme = dir.path().join("customers/acme.yaml");
    edit(&acme, "phone: \"+44 113 496 0000\"", "phone: \"+44 113 496 0099\"");
    let chunk = watch.next("Plan:");
    assert!(chunk.contains("customers/acme.yaml changed"), "{chunk}");
    assert!(chunk.contains("Plan for Customer/acme:"), "{chunk}");
    assert_eq!(owners_planned(&chunk), ["Customer/acme"], "{chunk}");
    assert!(chunk.contains("~ phone: \"+44 113 496 0000\" -> \"+44 113 496 0099\""), "{chunk}");

    // An edit that does not validate: its diagnostics, nothing planned.
    let globex = dir.path().join("customers/globex.yaml");
    let valid = std::fs::read_to_string(&globex).unwrap();
    std::fs::write(&globex, format!("{valid}spec: [\n")).unwrap();
    let mut chunk = watch.next("The manifests have errors");
    if !chunk.contains("customers/globex.yaml:45:") {
        chunk.push_str(&watch.next_err("customers/globex.yaml:45:"));
    }
    assert!(chunk.contains("E: error[invalid-yaml]: "), "{chunk}");
    assert!(chunk.contains("the previous ones stay in force"), "{chunk}");
    assert!(owners_planned(&chunk).is_empty(), "{chunk}");

    // Fixed with a change: compared with the manifests in force, only Globex changed.
    std::fs::write(&globex, &valid).unwrap();
    edit(&globex, "name: Globex Corporation", "name: Globex Corp.");
    let chunk = watch.next("Plan:");
    assert_eq!(owners_planned(&chunk), ["Customer/globex"], "{chunk}");

    // A profile's AvePoint setting: every customer that uses the profile and AvePoint (Wayne
    // uses the profile but opts out of AvePoint: `avepoint: null`).
    let profile = dir.path().join("profiles/m365-standard.yaml");
    let users: Vec<String> = crate::support::yaml_files(&dir.path().join("customers"))
        .into_iter()
        .filter(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            let avepoint = text.contains("avepoint:") && !text.contains("avepoint: null");
            text.contains("m365-standard") && avepoint && !text.contains("hideExpiredServices")
        })
        .map(|p| format!("Customer/{}", p.file_stem().unwrap().to_string_lossy()))
        .collect();
    assert!(users.len() > 1, "{users:?}");
    edit(&profile, "hideExpiredServices: true", "hideExpiredServices: false");
    let chunk = watch.next("Plan:");
    let mut planned: Vec<&str> = chunk
        .lines()
        .find_map(|l| l.strip_prefix("Plan for "))
        .expect("a plan heading")
        .trim_end_matches(':')
        .split(", ")
        .collect();
    planned.sort();
    assert_eq!(planned, users, "{chunk}");

    let status = watch.interrupt();
    assert!(status.success(), "Ctrl-C ends watch with 0: {status:?}");
    // watch never applies.
    assert_eq!(dump(), world, "the vendors hold what they held");
}
