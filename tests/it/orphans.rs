//! A killed apply leaves no process behind: the simulated operators it handed portal tasks to
//! notice that their parent is gone and stop.

use std::time::{Duration, Instant};

use crate::e2e::dir_arg;
use crate::support::{Served, example_copy};

/// A process's parent pid and state letter, from /proc (None once it is gone).
fn stat(pid: u32) -> Option<(u32, char)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) S ppid ...`: comm may hold spaces, so read after its closing parenthesis.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((ppid, state))
}

/// Live (not zombie) processes whose command line holds `needle` and whose parent is `parent`.
fn children_running(parent: u32, needle: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) && stat(pid).is_some_and(|(ppid, _)| ppid == parent) {
            found.push(pid);
        }
    }
    found
}

fn alive(pid: u32) -> bool {
    stat(pid).is_some_and(|(_, state)| state != 'Z' && state != 'X')
}

#[test]
fn operators_handed_tasks_by_a_killed_apply_stop() {
    // The operator takes two minutes per task: the apply is killed while they work.
    let served = Served::start(&["--operator-delay", "120"]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    let mut apply = served
        .command(&["apply", &d, "--auto-approve"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start apply");
    let started = Instant::now();
    let operators = loop {
        let found = children_running(apply.id(), "sandbox operator");
        if !found.is_empty() {
            break found;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "apply handed no task to an operator");
        assert!(apply.try_wait().unwrap().is_none(), "apply ended before handing over a task");
        std::thread::sleep(Duration::from_millis(100));
    };

    // Until they have read their task and wait on the sandbox (a kill before that ends them
    // anyway: their task arrives cut short).
    std::thread::sleep(Duration::from_secs(2));
    assert!(operators.iter().all(|&p| alive(p)), "the operators wait on their tasks");
    apply.kill().expect("kill -9 apply");
    apply.wait().unwrap();
    let killed = Instant::now();

    while operators.iter().any(|&p| alive(p)) {
        assert!(
            killed.elapsed() < Duration::from_secs(20),
            "operators {operators:?} still run {:?} after their apply was killed",
            killed.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
