//! `tenantry watch`: a manifest edit re-plans only what it touches, an invalid edit plans
//! nothing and keeps the previous manifests, and nothing is ever applied.

use crate::support::{Streaming, command, example_copy, run};

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

    let mut watch = Streaming::spawn(command(&["watch", "--sandbox", &d, "--debounce", "200ms"]));
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

    let status = watch.signal(libc::SIGINT);
    assert!(status.success(), "Ctrl-C ends watch with 0: {status:?}");
    // watch never applies.
    assert_eq!(dump(), world, "the vendors hold what they held");
}
