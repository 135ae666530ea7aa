//! Benchmark: `tenantry serve` idle on an estate it really applied. N generated customers (all
//! six services) are applied to the sandbox with `tenantry apply --sandbox` (the simulated
//! customers and operator complete what waits for them), then `tenantry serve --resync 1s` runs
//! over the converged estate. From its own `/metrics` this reads, per resync pass, the requests
//! sent to each vendor (the floor: each vendor's list pages at its page size, the same figure
//! `bench_observe` prints for a converged observe; the naive way, a per-resource refresh, reads
//! every object: one request each) and the actions run (none), and from /proc the server's
//! resident memory after the first resync and after the last.
//!
//!     cargo build --release && [SERVICES=6] cargo run --release --example bench_serve [-- CUSTOMERS [RESYNCS]]
//!
//! It runs the release `tenantry` binary next to this example (target/release/tenantry).

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn tenantry() -> PathBuf {
    let exe = std::env::current_exe().expect("this example's path");
    // target/release/examples/bench_serve -> target/release/tenantry
    let bin = exe.parent().and_then(Path::parent).expect("target/release").join("tenantry");
    assert!(bin.exists(), "{} is missing: run `cargo build --release` first", bin.display());
    bin
}

/// `GET /metrics` over a plain socket; the samples as `name{labels}` -> value.
fn metrics(addr: &str) -> Option<BTreeMap<String, f64>> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(s, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    let body = body.split_once("\r\n\r\n")?.1;
    let mut out = BTreeMap::new();
    for line in body.lines().filter(|l| l.starts_with("tenantry_")) {
        if let Some((name, value)) = line.rsplit_once(' ')
            && let Ok(v) = value.parse::<f64>()
        {
            out.insert(name.to_string(), v);
        }
    }
    Some(out)
}

fn sum(m: &BTreeMap<String, f64>, prefix: &str) -> f64 {
    m.iter().filter(|(k, _)| k.starts_with(prefix)).map(|(_, v)| v).sum()
}

/// Requests per vendor (every status summed).
fn requests(m: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for (k, v) in m.iter().filter(|(k, _)| k.starts_with("tenantry_vendor_requests_total{")) {
        let vendor = k.split("vendor=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or("?");
        *out.entry(vendor.to_string()).or_default() += v;
    }
    out
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap_or("VmRSS: 0 kB");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
}

fn main() {
    let count: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let resyncs: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let bin = tenantry();
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    // The sandbox's AvePoint partner pool holds 500 backup seats (10 customers' worth), so a
    // larger estate leaves AvePoint out of every customer: `SERVICES=5`, the default above 10.
    let services: usize =
        std::env::var("SERVICES").ok().and_then(|s| s.parse().ok()).unwrap_or(if count > 10 { 5 } else { 6 });
    common::generate_with(dir, count, services);
    let (desired_state, _) = common::load(dir);
    let objects = tenantry::engine::desire(&desired_state, &tenantry::provider::models()).len();
    let d = dir.display().to_string();

    // As a team would: apply again until it converges (a create whose lookup saw the vendor's
    // listing change while it read it is refused, never made blindly; the next apply makes it).
    let t = Instant::now();
    let mut runs = 0;
    loop {
        runs += 1;
        let applied = Command::new(&bin)
            .args(["apply", "--sandbox", "--auto-approve", "--quiet", &d])
            .stderr(Stdio::inherit())
            .output()
            .expect("apply");
        if applied.status.success() {
            break;
        }
        let out = String::from_utf8_lossy(&applied.stdout);
        assert!(runs < 5, "apply did not converge in {runs} runs:\n{out}");
        let last = out.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
        println!("apply run {runs}: {last}");
    }
    println!(
        "serve idle: {count} customers x {services} services, {objects} vendor objects, applied by {runs} `tenantry apply --sandbox` runs in {:.0} s",
        t.elapsed().as_secs_f64()
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(&bin)
        .args(["serve", "--sandbox", "--quiet", "--resync", "1s", "--listen", &addr, &d])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start serve");
    let pid = child.id();
    let passes = |m: &BTreeMap<String, f64>| sum(m, "tenantry_reconcile_passes_total");
    let wait_for = |n: f64| loop {
        if let Some(m) = metrics(&addr)
            && passes(&m) >= n
        {
            return (m, Instant::now(), rss_kib(pid));
        }
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(!state.is_empty() && !state.contains(") Z"), "serve stopped (its errors are above)");
        std::thread::sleep(Duration::from_millis(50));
    };
    // The start pass, then one resync: from there on every pass is an idle resync.
    let (m0, t0, rss0) = wait_for(2.0);
    let (m1, t1, rss1) = wait_for(2.0 + resyncs as f64);
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let _ = child.wait();

    let n = passes(&m1) - passes(&m0);
    let (r0, r1) = (requests(&m0), requests(&m1));
    println!("  {n:.0} idle resyncs in {:.0} s ({:.2} s each)", (t1 - t0).as_secs_f64(), (t1 - t0).as_secs_f64() / n);
    println!("  {:<11} {:>18}", "vendor", "requests / resync");
    for (v, after) in &r1 {
        println!("  {:<11} {:>18.1}", v, (after - r0.get(v).unwrap_or(&0.0)) / n);
    }
    let total: f64 = r1.values().sum::<f64>() - r0.values().sum::<f64>();
    println!("  {:<11} {:>18.1}   (naive, one read per object: {objects})", "total", total / n);
    let actions = sum(&m1, "tenantry_actions_total") - sum(&m0, "tenantry_actions_total");
    let failed = sum(&m1, "tenantry_reconcile_passes_total{result=\"failed\"}");
    println!("  actions run over the resyncs: {actions:.0}; failed passes: {failed:.0}");
    println!(
        "  RSS after the first resync {:.1} MiB, after the last {:.1} MiB",
        rss0 as f64 / 1024.0,
        rss1 as f64 / 1024.0
    );
}
