//! The committed JSON Schemas: up to date with the raw types, and satisfied by every example
//! manifest according to an independent validator (the `jsonschema` crate, not schemars).

use crate::support::{repo, yaml_files};

#[test]
fn committed_schemas_match_the_raw_types() {
    let plan = tenantry::plan::json::schema_file();
    for (name, content) in tenantry::manifest::schema::generate().into_iter().chain([plan]) {
        let path = repo().join("schemas").join(name);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == content,
            "schemas/{name} is out of date with the manifest types; regenerate it with `cargo run -- schema` and commit it"
        );
    }
}

#[test]
fn every_example_manifest_names_its_schema_and_satisfies_it() {
    let manifests = repo().join("manifests");
    let files = yaml_files(&manifests);
    assert!(files.len() >= 13);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let first = text.lines().next().unwrap_or_default();
        let schema_rel = first
            .strip_prefix("# yaml-language-server: $schema=")
            .unwrap_or_else(|| panic!("{} must start with the yaml-language-server schema comment", file.display()));
        let schema_path = file.parent().unwrap().join(schema_rel);
        let schema: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&schema_path)
                .unwrap_or_else(|_| panic!("{} names a missing schema", file.display())),
        )
        .unwrap();
        let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
        let docs: Vec<serde_json::Value> = serde_saphyr::from_str_multiple(&text).unwrap();
        for doc in docs {
            let errors: Vec<String> =
                validator.iter_errors(&doc).map(|e| format!("{} at {}", e, e.instance_path())).collect();
            assert!(errors.is_empty(), "{}: {errors:?}", file.display());
        }
    }
}

#[test]
fn the_independent_validator_rejects_what_tenantry_rejects_structurally() {
    // A cross-check that the schema is not vacuous: an unknown field and a bad enum value.
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join("schemas/customer.schema.json")).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let bad: serde_json::Value = serde_saphyr::from_str(
        "apiVersion: tenantry.dev/v1\nkind: Customer\nmetadata: {name: a}\nspec:\n  company: {name: A, domain: a.example, accountNumber: A, address: {street: s, city: c, postcode: p, country: GB}, extra: 1}\n  services: {datto: {term: yearly}}\n",
    )
    .unwrap();
    assert_eq!(validator.iter_errors(&bad).count(), 2);
}

fn committed(name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(repo().join("schemas").join(name)).unwrap()).unwrap()
}

fn validator(schema: &serde_json::Value) -> jsonschema::Validator {
    jsonschema::validator_for(schema).expect("a valid JSON Schema")
}

/// `spec.services.avepoint.services[0].seats` as a JSON pointer.
fn pointer(path: &str) -> String {
    let mut out = String::new();
    for segment in path.split('.').filter(|s| !s.is_empty()) {
        let (name, indexes) = segment.split_once('[').map_or((segment, ""), |(n, rest)| (n, rest));
        out.push('/');
        out.push_str(name);
        for index in indexes.split(['[', ']']).filter(|i| !i.is_empty()) {
            out.push('/');
            out.push_str(index);
        }
    }
    out
}

#[test]
fn every_schema_has_an_id_and_the_manifest_schema_covers_every_example_document() {
    for (name, _) in tenantry::manifest::schema::generate() {
        assert_eq!(committed(name)["$id"], format!("{}{name}", tenantry::manifest::schema::SCHEMA_BASE_URI));
    }
    // One file may hold several kinds: the mixed schema takes each by its `kind`.
    let mixed = validator(&committed("manifest.schema.json"));
    let mut kinds = std::collections::BTreeSet::new();
    for file in yaml_files(&repo().join("manifests")) {
        let docs: Vec<serde_json::Value> =
            serde_saphyr::from_str_multiple(&std::fs::read_to_string(&file).unwrap()).unwrap();
        for doc in docs {
            let errors: Vec<String> =
                mixed.iter_errors(&doc).map(|e| format!("{e} at {}", e.instance_path())).collect();
            assert!(errors.is_empty(), "{}: {errors:?}", file.display());
            kinds.insert(doc["kind"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(kinds.len(), 4, "{kinds:?}");
    // A customer in a file of resellers is still checked as a customer.
    let bad: serde_json::Value = serde_saphyr::from_str(
        "apiVersion: tenantry.dev/v1\nkind: Reseller\nmetadata: {name: r}\nspec:\n  company: {name: R, domain: r.example, accountNumber: R, address: {street: s, city: c, postcode: p, country: GB}}\n  services: {datto: {}}\n",
    )
    .unwrap();
    let paths: Vec<String> = mixed.iter_errors(&bad).map(|e| e.instance_path().to_string()).collect();
    assert_eq!(paths, ["/spec/services"], "a reseller has no Datto service");
    let unknown: serde_json::Value = serde_saphyr::from_str("apiVersion: tenantry.dev/v1\nkind: Custmer\n").unwrap();
    let paths: Vec<String> = mixed.iter_errors(&unknown).map(|e| e.instance_path().to_string()).collect();
    assert_eq!(paths, ["/kind"]);
}

#[test]
fn the_schema_patterns_accept_exactly_what_validate_accepts() {
    use tenantry::manifest::validate::{is_country, is_dns_label, is_domain, is_email};
    let schema = committed("customer.schema.json");
    let defs = &schema["$defs"];
    let long_label = "a".repeat(64);
    let long_domain = format!("{}.example", ["abcdefghij"; 23].join("."));
    type Case<'a> = (&'a serde_json::Value, fn(&str) -> bool, Vec<&'a str>);
    let cases: [Case; 4] = [
        (
            &defs["Metadata"]["properties"]["name"],
            is_dns_label,
            vec!["acme", "acme-01", "a", "0a", "Acme", "-acme", "acme-", "acme_corp", "acme.corp", "", &long_label],
        ),
        (
            &defs["Company"]["properties"]["domain"],
            is_domain,
            vec![
                "acme.example",
                "acme.co.uk",
                "xn--bcher-kva.example",
                "Acme.Example",
                "acme",
                "https://acme.example",
                "-acme.example",
                "acme-.example",
                "acme.e1",
                "acme.e",
                "a_b.example",
                "acme..example",
                "acme.example.",
                &long_domain,
            ],
        ),
        (
            &defs["Contact"]["properties"]["email"],
            is_email,
            vec![
                "ada@acme.example",
                "ada.byron+it@eu.acme.example",
                "o'brien@acme.example",
                "ada@acme",
                "ada acme@x.example",
                "@x.example",
                ".ada@x.example",
                "ada.@x.example",
                "ada..byron@x.example",
                "ada@b@x.example",
                "ada@-x.example",
                "ada.acme.example",
            ],
        ),
        (&defs["Address"]["properties"]["country"], is_country, vec!["GB", "US", "DE", "UK", "gb", "GBR", "G", ""]),
    ];
    for (property, check, samples) in cases {
        let v = validator(property);
        for s in samples {
            let value = serde_json::Value::from(s);
            assert_eq!(v.is_valid(&value), check(s), "{s:?}: the schema {property} and validate disagree");
        }
    }
}

/// Every invalid fixture whose problem a JSON Schema can express (a bad name, e-mail, country
/// or enum value, an unknown field, a wrong type, a literal secret, ...) is rejected by the
/// independent validator at the same place `tenantry validate` names.
#[test]
fn the_independent_validator_rejects_the_invalid_fixtures_where_a_schema_can_say_so() {
    const EXPRESSIBLE: &[&str] = &[
        "invalid-name",
        "invalid-email",
        "invalid-country",
        "invalid-value",
        "unknown-field",
        "invalid-type",
        "literal-secret",
        "invalid-secret",
        "exactly-one",
        "invalid-api-version",
        "unknown-kind",
        "invalid-document",
        "invalid-url",
    ];
    // Missing fields the raw types require (the others are semantic: missing after a profile merge).
    const STRUCTURAL_MISSING: &[&str] = &["missing-api-version", "missing-required-field"];
    let mixed = validator(&committed("manifest.schema.json"));
    let mut checked = Vec::new();
    let mut cases: Vec<_> =
        std::fs::read_dir(crate::support::fixtures().join("invalid")).unwrap().map(|e| e.unwrap().path()).collect();
    cases.sort();
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let loaded = tenantry::manifest::load_dir(&case.join("manifests")).unwrap();
        for d in &loaded.diagnostics {
            let structural_missing = d.code == "missing-field" && STRUCTURAL_MISSING.contains(&name.as_str());
            if !EXPRESSIBLE.contains(&d.code) && !structural_missing {
                continue;
            }
            let file = loaded.sources.file(d.loc.file).unwrap();
            let docs: Vec<serde_json::Value> = serde_saphyr::from_str_multiple(&file.text).unwrap();
            let at = pointer(&d.path);
            let parent = at.rsplit_once('/').map(|(p, _)| p.to_string()).unwrap_or_default();
            let found: Vec<String> = docs
                .iter()
                .flat_map(|doc| mixed.iter_errors(doc).map(|e| e.instance_path().to_string()).collect::<Vec<_>>())
                .collect();
            assert!(
                found.iter().any(|p| *p == at || *p == parent),
                "{name}: tenantry reports {} at `{}` ({}); the schema reports {found:?}",
                d.code,
                d.path,
                d.message
            );
            checked.push((name.clone(), d.code));
        }
    }
    for (case, code) in [
        ("name-not-a-dns-label", "invalid-name"),
        ("malformed-email", "invalid-email"),
        ("unknown-enum-value", "invalid-value"),
        ("unknown-field-typo", "unknown-field"),
        ("invalid-country-code", "invalid-country"),
        ("lowercase-country-code", "invalid-country"),
        ("literal-secret", "literal-secret"),
        ("wrong-api-version", "invalid-api-version"),
        ("unknown-kind", "unknown-kind"),
        ("missing-required-field", "missing-field"),
        ("config-bad-url-and-duration", "invalid-url"),
    ] {
        assert!(checked.contains(&(case.to_string(), code)), "{case} ({code}) was not checked: {checked:?}");
    }
}

#[test]
fn optional_fields_have_no_null_branch_so_a_validator_names_the_allowed_values() {
    let schema = committed("customer.schema.json");
    let v = validator(&schema);
    let doc = |services: &str| -> serde_json::Value {
        serde_saphyr::from_str(&format!(
            "apiVersion: tenantry.dev/v1\nkind: Customer\nmetadata: {{name: acme}}\nspec:\n  company: {{name: A, domain: acme.example, accountNumber: A, address: {{street: s, city: c, postcode: p, country: GB}}}}\n  services: {services}\n"
        ))
        .unwrap()
    };
    let errors: Vec<String> = v.iter_errors(&doc("{datto: {region: mars}}")).map(|e| e.to_string()).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains(r#"is not one of "us""#) && !errors[0].contains("null"), "{errors:?}");
    // An empty value for an optional field is an error, as `tenantry validate` reports it...
    assert!(!v.is_valid(&doc("{datto: {region: null}}")));
    let loaded = tenantry::manifest::load_files(
        vec![tenantry::manifest::load::InputFile {
            relative: "customers/acme.yaml".into(),
            text: Ok(serde_json::to_string(&doc("{datto: {region: null}}")).unwrap()),
        }],
        Default::default(),
    );
    let codes: Vec<(&str, &str)> = loaded.diagnostics.iter().map(|d| (d.code, d.path.as_str())).collect();
    assert!(codes.contains(&("invalid-type", "spec.services.datto.region")), "{codes:?}");
    // ...but a service block may be null: it removes the block a profile supplied.
    assert!(v.is_valid(&doc("{avepoint: null}")), "{:?}", v.iter_errors(&doc("{avepoint: null}")).collect::<Vec<_>>());
    // Formats: recipients are e-mail addresses, the company domain a domain.
    assert!(!v.is_valid(&doc("{avepoint: {billingReports: {recipients: [finance]}}}")));
    assert!(v.is_valid(&doc("{avepoint: {billingReports: {recipients: [finance@acme.example]}}}")));
}
