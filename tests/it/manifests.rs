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
