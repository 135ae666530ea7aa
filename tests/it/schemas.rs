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
