//! Manifest loading and validation: the example repository, and one fixture directory per kind
//! of mistake (`tests/fixtures/invalid/<case>/manifests` with the diagnostics it must produce in
//! `expected.txt`, and what it shows in `README`).

use tenantry::manifest::{self, diag};

use crate::support::{expect_file, fixtures, repo};

#[test]
fn the_example_repository_is_valid() {
    let loaded = manifest::load_dir(&repo().join("manifests")).expect("readable");
    assert_eq!(diag::render_plain(&loaded.diagnostics, &loaded.sources), "");
    let desired = loaded.desired.expect("valid");
    assert_eq!(desired.resellers.len(), 2);
    assert!(desired.customers.len() >= 8);
    assert_eq!(desired.profiles.len(), 2);
}

#[test]
fn example_covers_every_provider_and_option() {
    use tenantry::model::*;
    let desired = manifest::load_dir(&repo().join("manifests")).unwrap().desired.unwrap();
    let customers: Vec<&Customer> = desired.customers.values().collect();
    let any = |f: &dyn Fn(&Customer) -> bool| customers.iter().any(|c| f(c));
    assert!(
        any(&|c| c.reseller.is_some()) && any(&|c| c.reseller.is_none()),
        "under a reseller and directly under the MSP"
    );
    for mode in [VdcPrimaryAdmin::CustomerManaged, VdcPrimaryAdmin::PartnerManaged] {
        assert!(
            any(&|c| c.services.veeam.as_ref().and_then(|v| v.vdc.as_ref()).is_some_and(|v| v.primary_admin == mode)),
            "{mode:?}"
        );
    }
    assert!(any(&|c| c.services.datto.as_ref().is_some_and(|d| d.managed_by == DattoManagedBy::Client)));
    assert!(any(&|c| c
        .services
        .velocloud
        .as_ref()
        .is_some_and(|v| v.manage_images && v.images.len() > 1 && !v.edge_licenses.is_empty())));
    for t in [
        AvePointAccountType::M365GlobalAdmin,
        AvePointAccountType::M365UsGovernmentGlobalAdmin,
        AvePointAccountType::GoogleSuperAdmin,
        AvePointAccountType::SalesforceSystemAdmin,
        AvePointAccountType::LocalAccount,
        AvePointAccountType::AuthorizationLink,
    ] {
        assert!(any(&|c| c.services.avepoint.as_ref().is_some_and(|a| a.account_type == t)), "{t:?}");
    }
    for v in Vendor::ALL {
        assert!(any(&|c| c.services.vendors().contains(&v)), "{v}");
    }
}

/// Every case directory must fail validation with exactly the diagnostics in its expected.txt.
#[test]
fn invalid_manifests_report_message_file_and_line() {
    let root = fixtures().join("invalid");
    let mut cases: Vec<_> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).collect();
    cases.sort();
    assert!(cases.len() >= 30, "at least 30 invalid cases, found {}", cases.len());
    for case in cases {
        let loaded = manifest::load_dir(&case.join("manifests")).expect("readable");
        assert!(loaded.has_errors(), "{} should be invalid", case.display());
        assert!(loaded.desired.is_none());
        let rendered = diag::render_plain(&loaded.diagnostics, &loaded.sources);
        for d in &loaded.diagnostics {
            assert!(d.loc.line >= 1 && d.loc.column >= 1, "{}: every diagnostic has a line and column", case.display());
        }
        expect_file(&case.join("expected.txt"), &rendered);
    }
}

#[test]
fn a_literal_secret_is_never_echoed_in_any_rendering() {
    let loaded = manifest::load_dir(&fixtures().join("invalid/literal-secret/manifests")).unwrap();
    let renders = [
        diag::render_plain(&loaded.diagnostics, &loaded.sources),
        diag::render_snippets(&loaded.diagnostics, &loaded.sources, true),
        diag::render_json(&loaded.diagnostics, &loaded.sources),
    ];
    for r in renders {
        assert!(r.contains("literal-secret"), "{r}");
        assert!(!r.contains("Tr0ub4dor"), "the planted secret leaked: {r}");
    }
}

#[test]
fn snippets_point_at_the_exact_column() {
    let loaded = manifest::load_dir(&fixtures().join("invalid/unknown-field-typo/manifests")).unwrap();
    insta::assert_snapshot!(diag::render_snippets(&loaded.diagnostics, &loaded.sources, false));
    let loaded = manifest::load_dir(&fixtures().join("invalid/error-inside-profile/manifests")).unwrap();
    insta::assert_snapshot!(diag::render_snippets(&loaded.diagnostics, &loaded.sources, false));
}

#[test]
fn json_diagnostics_are_machine_readable() {
    let loaded = manifest::load_dir(&fixtures().join("invalid/dangling-reseller/manifests")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&diag::render_json(&loaded.diagnostics, &loaded.sources)).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["errors"], 1);
    let d = &v["diagnostics"][0];
    assert_eq!(d["code"], "unknown-reseller");
    assert_eq!(d["file"], "customers/acme.yaml");
    assert_eq!(d["line"], 6);
    assert_eq!(d["path"], "spec.reseller");
    assert_eq!(d["hint"], "did you mean `northwind`?");
}

#[test]
fn a_missing_directory_is_an_error_not_a_panic() {
    let err = manifest::load_dir(&repo().join("no-such-dir")).unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}

/// Random edits of the example repository and random structures, 400 seeded cases: loading and validating never panics, an invalid set of manifests always says
/// so, and every diagnostic names a file that exists and a line in it (so plain rendering can
/// point at `file:line:column`).
#[test]
fn arbitrary_manifests_never_panic_and_every_diagnostic_names_a_file_and_line() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use tenantry::manifest::load::{InputFile, load_files};
    use tenantry::manifest::node::Budgets;

    const SCALARS: &[&str] = &[
        "",
        "~",
        "null",
        "true",
        "no",
        "0",
        "-0",
        "1e999",
        "0x1F",
        "12:30",
        "2026-12-01",
        "\"\"",
        "''",
        "'q''s'",
        "\"a\\\"b\"",
        "[a]",
        "[a, [b, {c: d}]]",
        "{a: 1, b: [2]}",
        "{",
        "[",
        "a.b.c",
        "a[0]",
        "'[x].y'",
        "\"k.e[y]\"",
        "&a x",
        "*a",
        "!!str 1",
        "!tag x",
        "|",
        ">-",
        "? k",
        "- x",
        ": v",
        "#",
        "%YAML 1.2",
        "---",
        "...",
        "\u{0}",
        "\u{feff}x",
        "ünïcødé",
        "😀",
        "a: b: c",
        "   ",
        "\t",
    ];
    const KEYS: &[&str] = &[
        "name",
        "spec",
        "kind",
        "apiVersion",
        "metadata",
        "services",
        "veeam",
        "datto",
        "a.b",
        "[x]",
        "'q'",
        "\"dq\"",
        "k[0]",
        "k.e[y]",
        "? complex",
        "<<",
        "*",
        "&",
        "-",
        "a b",
        "x:y",
        "",
        "🔑",
    ];
    fn pick<'a>(rng: &mut StdRng, from: &[&'a str]) -> &'a str {
        from[rng.random_range(0..from.len())]
    }
    fn structure(rng: &mut StdRng, depth: usize, indent: usize) -> String {
        let pad = " ".repeat(indent);
        match if depth == 0 { 0 } else { rng.random_range(0..4) } {
            0 => format!(" {}", pick(rng, SCALARS)),
            1 => {
                let n = rng.random_range(0..4);
                let items: Vec<String> = (0..n).map(|_| pick(rng, SCALARS).to_string()).collect();
                format!(" [{}]", items.join(", "))
            }
            2 => {
                let mut s = String::new();
                for _ in 0..rng.random_range(1..4) {
                    s.push_str(&format!("\n{pad}{}:{}", pick(rng, KEYS), structure(rng, depth - 1, indent + 2)));
                }
                s
            }
            _ => {
                let mut s = String::new();
                for _ in 0..rng.random_range(1..3) {
                    s.push_str(&format!("\n{pad}-{}", structure(rng, depth - 1, indent + 2)));
                }
                s
            }
        }
    }
    fn mutate(rng: &mut StdRng, text: &str) -> String {
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        for _ in 0..rng.random_range(1..4) {
            if lines.is_empty() {
                lines.push(String::new());
            }
            let i = rng.random_range(0..lines.len());
            match rng.random_range(0..7) {
                0 => {
                    // A value replaced by an arbitrary scalar.
                    if let Some(colon) = lines[i].find(": ") {
                        let key = lines[i][..colon + 1].to_string();
                        lines[i] = format!("{key} {}", pick(rng, SCALARS));
                    }
                }
                1 => {
                    // A key inserted, with an arbitrary structure under it.
                    let indent = lines[i].len() - lines[i].trim_start().len();
                    let key = pick(rng, KEYS);
                    lines.insert(i, format!("{}{key}:{}", " ".repeat(indent), structure(rng, 3, indent + 2)));
                }
                2 => {
                    lines.remove(i);
                }
                3 => {
                    let l = lines[i].clone();
                    lines.insert(i, l);
                }
                4 => lines[i] = format!("{}{}", " ".repeat(rng.random_range(0..5)), lines[i].trim_start()),
                5 => {
                    // A key renamed to something with brackets, dots or quotes.
                    if let Some(colon) = lines[i].find(':') {
                        let indent = lines[i].len() - lines[i].trim_start().len();
                        let rest = lines[i][colon..].to_string();
                        lines[i] = format!("{}{}{rest}", " ".repeat(indent), pick(rng, KEYS));
                    }
                }
                _ => lines.truncate(i),
            }
        }
        lines.join("\n")
    }

    let example = manifest::load::read_dir(&repo().join("manifests")).expect("read the example");
    let originals: Vec<(std::path::PathBuf, String)> =
        example.into_iter().map(|f| (f.relative, f.text.expect("readable example"))).collect();
    let mut rng = StdRng::seed_from_u64(0x5eed_f022);
    let started = std::time::Instant::now();
    let (mut cases, mut invalid) = (0, 0);
    // A fixed number of cases (the seed makes them the same every run); the clock only stops
    // a run on a machine far slower than expected.
    while cases < 400 && started.elapsed() < std::time::Duration::from_secs(60) {
        cases += 1;
        // The example with one to three files edited, or a file of random documents added.
        let mut files: Vec<(std::path::PathBuf, String)> = originals.clone();
        if rng.random_bool(0.8) {
            for _ in 0..rng.random_range(1..4) {
                let i = rng.random_range(0..files.len());
                files[i].1 = mutate(&mut rng, &files[i].1);
            }
        } else {
            let docs: Vec<String> = (0..rng.random_range(1..3)).map(|_| structure(&mut rng, 4, 0)).collect();
            files.push(("customers/random.yaml".into(), docs.join("\n---\n")));
        }
        let inputs: Vec<InputFile> =
            files.iter().map(|(p, t)| InputFile { relative: p.clone(), text: Ok(t.clone()) }).collect();
        let loaded = std::panic::catch_unwind(|| load_files(inputs, Budgets::default()));
        let Ok(loaded) = loaded else {
            let edited: Vec<String> = files
                .iter()
                .zip(&originals)
                .filter(|(f, o)| f.1 != o.1)
                .map(|(f, _)| format!("--- {}\n{}", f.0.display(), f.1))
                .collect();
            panic!("case {cases}: loading panicked on:\n{}", edited.join("\n"));
        };
        assert_eq!(loaded.desired.is_none(), loaded.has_errors(), "case {cases}: an invalid set must say why");
        invalid += usize::from(loaded.has_errors());
        let plain = diag::render_plain(&loaded.diagnostics, &loaded.sources);
        for d in &loaded.diagnostics {
            let Some(file) = loaded.sources.file(d.loc.file) else {
                panic!("case {cases}: {d:?} names no file");
            };
            let lines = file.text.lines().count().max(1) as u32;
            assert!(
                d.loc.line >= 1 && d.loc.line <= lines + 1,
                "case {cases}: {d:?} in {:?} ({lines} lines)",
                file.display
            );
            assert!(plain.contains(&loaded.sources.display(d.loc)), "case {cases}: {plain}");
        }
    }
    eprintln!("{cases} cases, {invalid} of them invalid");
    assert!(cases >= 50, "only {cases} cases in a minute");
    assert!(invalid > cases / 2 && invalid < cases, "{invalid} of {cases} invalid: the edits are not exploring");
}

/// Nothing that could hold a manifest is skipped in silence (a run that skipped a customer's
/// file could prune that customer): each entry that cannot be read is an error naming it, and
/// an oversized file is refused before it is read.
#[test]
fn unreadable_entries_are_errors_naming_them_and_big_files_are_not_read() {
    use std::os::unix::fs::symlink;
    let dir = crate::support::example_copy();
    let customers = dir.path().join("customers");
    symlink("/nonexistent/ghost.yaml", customers.join("ghost.yaml")).unwrap();
    symlink("loop-b.yaml", customers.join("loop-a.yaml")).unwrap();
    symlink("loop-a.yaml", customers.join("loop-b.yaml")).unwrap();
    symlink("/nonexistent/more-customers", dir.path().join("more")).unwrap();
    symlink(dir.path().join("profiles"), dir.path().join("linked-profiles")).unwrap();
    let fifo = customers.join("pipe.yaml");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    // 5 MiB: over the 4 MiB budget for one file. A sparse file: its size says so unread.
    let big = std::fs::File::create(customers.join("big.yaml")).unwrap();
    big.set_len(5 << 20).unwrap();
    // Upper-case extensions are manifests too (and this one is not valid YAML for a Customer).
    std::fs::write(customers.join("SHOUT.YAML"), "kind: Customer\n").unwrap();

    let loaded = manifest::load_dir(dir.path()).expect("the directory itself is readable");
    let plain = diag::render_plain(&loaded.diagnostics, &loaded.sources);
    assert!(loaded.desired.is_none(), "{plain}");
    for (name, why) in [
        ("customers/ghost.yaml", "cannot be followed"),
        ("customers/loop-a.yaml", "cannot be followed"),
        ("customers/loop-b.yaml", "cannot be followed"),
        ("more", "cannot be followed"),
        ("linked-profiles", "a symbolic link to a directory"),
        ("customers/pipe.yaml", "a FIFO"),
        ("customers/big.yaml", "over the 4194304-byte limit"),
        ("customers/SHOUT.YAML", ""),
    ] {
        let line = plain.lines().find(|l| l.contains(&format!("{name}:"))).unwrap_or_else(|| panic!("{name}: {plain}"));
        assert!(line.contains(why), "{name}: {line}");
    }
    // The CLI says so too, with exit 1 (and so does plan, before observing anything).
    let r = crate::support::run(&["validate", &dir.path().display().to_string()]);
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stdout.contains("pipe.yaml") || r.stderr.contains("pipe.yaml"), "{r}");
}
