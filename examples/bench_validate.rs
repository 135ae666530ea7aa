//! Benchmark: `validate` on a generated MSP repository of 10,000 customers (one file each, all
//! six services, under two resellers and two profiles). Prints wall-clock figures.
//!
//!     cargo run --release --example bench_validate [-- CUSTOMERS]

use std::time::Instant;

fn main() {
    let count: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests");
    for sub in ["resellers", "profiles"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
        for entry in std::fs::read_dir(repo.join(sub)).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), root.join(sub).join(entry.file_name())).unwrap();
        }
    }
    std::fs::copy(repo.join("tenantry.yaml"), root.join("tenantry.yaml")).unwrap();
    std::fs::create_dir_all(root.join("customers")).unwrap();
    let mut bytes = 0;
    for i in 0..count {
        let text = customer(i);
        bytes += text.len();
        std::fs::write(root.join(format!("customers/c{i:05}.yaml")), text).unwrap();
    }

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

fn customer(i: usize) -> String {
    let reseller = match i % 3 {
        0 => "  reseller: northwind\n",
        1 => "  reseller: bluewave\n",
        _ => "",
    };
    format!(
        r#"# yaml-language-server: $schema=../../schemas/customer.schema.json
apiVersion: tenantry.dev/v1
kind: Customer
metadata:
  name: c{i:05}
  labels: {{tier: gold}}
spec:
{reseller}  profiles: [m365-standard, sdwan-branch]
  company:
    name: Customer {i} Ltd
    domain: c{i}.example
    accountNumber: C-{i:06}
    address: {{street: {i} Main Street, city: Leeds, postcode: LS1 1AA, country: GB}}
  contacts:
    primary: {{firstName: Ada, lastName: Byron{i}, email: ada@c{i}.example, phone: "+44 113 496 0000", mobile: "+44 7700 900000"}}
  services:
    veeam:
      owner: {{username: c{i}-owner, password: {{env: C{i}_OWNER}}}}
      vdc: {{primaryAdmin: customerManaged, admin: {{contact: primary}}}}
    datto:
      clientUser: {{contact: primary, countryCode: "+44"}}
    velocloud:
      admin: {{username: admin@c{i}.example, password: {{env: C{i}_VCO}}, contact: primary}}
    acronis: {{username: c{i}-admin, email: it@c{i}.example}}
    watchguard: {{username: c{i}.admin, email: it@c{i}.example}}
    avepoint:
      accountType: localAccount
      registrationAccount: backup@c{i}.example
      password: {{env: C{i}_AP}}
"#
    )
}
