//! Benchmark: `validate` on a generated MSP repository of 10,000 customers (one file each, all
//! six services, under two resellers and two profiles). Prints wall-clock figures.
//!
//!     cargo run --release --example bench_validate [-- CUSTOMERS]

mod common;

use std::time::Instant;

fn main() {
    let count: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let bytes = common::generate(root, count);

    let start = Instant::now();
    let files = tenantry::manifest::load::read_dir(root).expect("read");
    let read = start.elapsed();
    let start_validate = Instant::now();
    let loaded = tenantry::manifest::load_files(files, Default::default());
    let validate = start_validate.elapsed();
    let total = start.elapsed();
    assert!(!loaded.has_errors(), "{}", tenantry::manifest::diag::render_plain(&loaded.diagnostics, &loaded.sources));
    let desired = loaded.desired.unwrap();
    println!("validate: {} customers, {:.1} MB of YAML", desired.customers.len(), bytes as f64 / 1e6);
    println!("  read files      {:>8.1} ms", read.as_secs_f64() * 1e3);
    println!("  parse+validate  {:>8.1} ms", validate.as_secs_f64() * 1e3);
    println!("  total (wall)    {:>8.1} ms", total.as_secs_f64() * 1e3);
}
