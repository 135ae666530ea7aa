//! What the benchmarks share: a generated MSP repository of N customers (one file each, all six
//! services, under two resellers and two profiles, like the example repository).

#![allow(dead_code)] // each benchmark uses part of it

use std::path::Path;

/// Write the example's tenantry.yaml, resellers and profiles plus `count` generated customers
/// into `root`; returns the bytes of customer YAML written.
pub fn generate(root: &Path, count: usize) -> usize {
    generate_with(root, count, 6)
}

/// As [`generate`], with `services` services per customer: 6 is all of them, 5 leaves out
/// AvePoint (the plan figure the issue names is for five).
pub fn generate_with(root: &Path, count: usize, services: usize) -> usize {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests");
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
        let mut text = customer(i);
        if services < 6 {
            let cut = text.find("    avepoint:").unwrap_or(text.len());
            text.truncate(cut);
            text.push_str("    avepoint: null # the profile's AvePoint defaults do not apply\n");
        }
        bytes += text.len();
        std::fs::write(root.join(format!("customers/c{i:05}.yaml")), text).unwrap();
    }
    bytes
}

/// Load and validate a generated repository.
pub fn load(root: &Path) -> (tenantry::model::DesiredState, tenantry::manifest::SourceMap) {
    let files = tenantry::manifest::load::read_dir(root).expect("read");
    let loaded = tenantry::manifest::load_files(files, Default::default());
    assert!(!loaded.has_errors(), "{}", tenantry::manifest::diag::render_plain(&loaded.diagnostics, &loaded.sources));
    (loaded.desired.unwrap(), loaded.sources)
}

/// CPU time this thread has used (user + system), from /proc; `None` elsewhere.
pub fn thread_cpu() -> Option<std::time::Duration> {
    // schedstat: time on the CPU in nanoseconds, exact (stat's ticks are sampled, 10 ms).
    if let Some(ns) = std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()))
    {
        return Some(std::time::Duration::from_nanos(ns));
    }
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(std::time::Duration::from_millis(ticks * 10)) // USER_HZ is 100 on Linux
}

pub fn customer(i: usize) -> String {
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
