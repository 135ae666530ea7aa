//! Benchmark: `tenantry watch` on the example repository against the sandbox: from saving a
//! customer's manifest to the changed plan printed, over 20 saves. In the same run, the naive
//! way: a cold `tenantry plan --sandbox --target acme` after each save (a new process that
//! loads, connects and plans).
//!
//!     cargo build --release && cargo run --release --example bench_watch [-- SAVES]
//!
//! It runs the release `tenantry` binary next to this example (target/release/tenantry).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn tenantry() -> PathBuf {
    let exe = std::env::current_exe().expect("this example's path");
    // target/release/examples/bench_watch -> target/release/tenantry
    let bin = exe.parent().and_then(Path::parent).expect("target/release").join("tenantry");
    assert!(bin.exists(), "{} is missing: run `cargo build --release` first", bin.display());
    bin
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        if entry.file_name() == ".tenantry" {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_tree(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).expect("copy");
        }
    }
}

fn stats(mut v: Vec<Duration>) -> String {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    format!(
        "median {:>6.0} ms   p90 {:>6.0} ms   max {:>6.0} ms   ({} runs)",
        ms(v[v.len() / 2]),
        ms(v[(v.len() * 9 / 10).min(v.len() - 1)]),
        ms(v[v.len() - 1]),
        v.len()
    )
}

fn main() {
    let saves: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    let bin = tenantry();
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    copy_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests"), dir);
    let d = dir.display().to_string();
    let applied = Command::new(&bin).args(["apply", "--sandbox", "--auto-approve", &d]).output().expect("apply");
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stdout));

    let acme = dir.join("customers/acme.yaml");
    let original = std::fs::read_to_string(&acme).expect("acme.yaml");
    let phone = "phone: \"+44 113 496 0000\"";
    assert!(original.contains(phone));
    let save = |i: usize| {
        let text = original.replacen(phone, &format!("phone: \"+44 113 496 {:04}\"", 1000 + i), 1);
        std::fs::write(&acme, text).expect("save acme.yaml");
    };

    // watch: save, then read until the plan's summary line.
    let mut child = Command::new(&bin)
        .args(["watch", "--sandbox", &d])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start watch");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines().map_while(Result::ok);
    let until_summary = |lines: &mut dyn Iterator<Item = String>| {
        for line in lines {
            if line.starts_with("Plan:") {
                return;
            }
        }
        panic!("watch stopped");
    };
    until_summary(&mut lines);
    let mut watched = Vec::new();
    for i in 0..saves {
        // Apart from the debounce of the previous save.
        std::thread::sleep(Duration::from_millis(400));
        let t = Instant::now();
        save(i);
        until_summary(&mut lines);
        watched.push(t.elapsed());
    }
    let _ = child.kill();
    let _ = child.wait();

    // The naive way: a new `plan` process after each save.
    let mut cold = Vec::new();
    for i in 0..saves.min(10) {
        save(saves + i);
        let t = Instant::now();
        let out = Command::new(&bin).args(["plan", "--sandbox", "--target", "acme", &d]).output().expect("plan");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        cold.push(t.elapsed());
    }
    println!("watch, example repository (10 owners) against the sandbox, save -> changed plan printed:");
    println!("  tenantry watch (debounce 200 ms)     {}", stats(watched));
    println!("  cold `plan --target acme` per save   {}", stats(cold));
}
