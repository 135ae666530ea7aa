//! The JSON Schemas of the manifest kinds, generated from the raw types. They are committed under
//! `schemas/` for editors (`tenantry schema` writes them, a test fails when they drift) and used
//! at run time by the structural check, so the editor and `validate` agree by construction.
//!
//! Generated schemas are finished here: each gets an `$id`; an optional field is just its type
//! (no `null` branch, so a validator names the allowed values instead of answering "is not of
//! type 'null'"), except a customer's or profile's service blocks (their definitions accept
//! `null`, which removes a block a profile supplied); and `manifest.schema.json` covers a file that holds documents of several
//! kinds, choosing the kind's schema by `kind`.

use crate::core::pretty_json;
use std::sync::OnceLock;

use serde_json::Value as Json;

use super::raw;

/// A manifest kind with a schema of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Customer,
    Reseller,
    Profile,
    Config,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Customer, Kind::Reseller, Kind::Profile, Kind::Config];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Customer => "Customer",
            Kind::Reseller => "Reseller",
            Kind::Profile => "Profile",
            Kind::Config => "Config",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// The document type's name in `manifest.schema.json`'s `$defs`.
    fn def_name(self) -> &'static str {
        match self {
            Kind::Customer => "CustomerDocument",
            Kind::Reseller => "ResellerDocument",
            Kind::Profile => "ProfileDocument",
            Kind::Config => "ConfigDocument",
        }
    }

    /// File name under `schemas/`.
    pub fn schema_file(self) -> &'static str {
        match self {
            Kind::Customer => "customer.schema.json",
            Kind::Reseller => "reseller.schema.json",
            Kind::Profile => "profile.schema.json",
            Kind::Config => "tenantry.schema.json",
        }
    }

    pub fn schema(self) -> &'static Json {
        static SCHEMAS: OnceLock<[Json; 4]> = OnceLock::new();
        let all = SCHEMAS.get_or_init(|| {
            let finished =
                |s: schemars::Schema, kind: Kind| finish(serde_json::to_value(s).unwrap_or(Json::Null), kind);
            [
                finished(schemars::schema_for!(raw::CustomerDocument), Kind::Customer),
                finished(schemars::schema_for!(raw::ResellerDocument), Kind::Reseller),
                finished(schemars::schema_for!(raw::ProfileDocument), Kind::Profile),
                finished(schemars::schema_for!(raw::ConfigDocument), Kind::Config),
            ]
        });
        &all[self as usize]
    }
}

/// Where the committed schemas are published: each schema's `$id` is this plus its file name.
pub const SCHEMA_BASE_URI: &str = "https://tenantry.dev/schemas/v1/";

/// The schema for a file of documents of any kind.
pub const MANIFEST_SCHEMA_FILE: &str = "manifest.schema.json";

/// Definitions whose properties may be `null`: in a customer's or profile's `services`, `null`
/// removes a block a profile supplied. Their blocks' definitions accept `null` themselves
/// (`type: [object, null]`) rather than through an `anyOf` branch, so that a validator still
/// reports a problem inside a block where it is. A reseller's blocks share those definitions, so
/// `null` reads as "no block" there too (as tenantry has always read it).
const NULL_REMOVES: &[&str] = &["CustomerServices", "ResellerServices"];

/// `$id`, and optional properties without their `null` branch.
fn finish(mut schema: Json, kind: Kind) -> Json {
    strip_null_properties(&mut schema);
    if let Some(defs) = schema.get_mut("$defs").and_then(Json::as_object_mut) {
        let mut nullable = Vec::new();
        for name in NULL_REMOVES {
            let refs = defs.get(*name).and_then(|d| d.get("properties")).and_then(Json::as_object).map(|props| {
                props.values().filter_map(|p| p.get("anyOf")?.as_array()?.iter().find_map(|b| b.get("$ref")?.as_str()))
            });
            nullable.extend(refs.into_iter().flatten().filter_map(|r| r.strip_prefix("#/$defs/")).map(String::from));
        }
        for def in defs.values_mut() {
            strip_null_properties(def);
        }
        for name in nullable {
            if let Some(def) = defs.get_mut(&name).and_then(Json::as_object_mut)
                && def.get("type") == Some(&Json::from("object"))
            {
                def.insert("type".into(), serde_json::json!(["object", "null"]));
            }
        }
    }
    if let Some(map) = schema.as_object_mut() {
        map.insert("$id".into(), Json::from(format!("{SCHEMA_BASE_URI}{}", kind.schema_file())));
    }
    schema
}

/// For each property of an object schema: `anyOf: [T, {type: null}]` becomes T (keeping the
/// property's description), `type: [T, "null"]` becomes `type: T`.
fn strip_null_properties(schema: &mut Json) {
    let Some(properties) = schema.get_mut("properties").and_then(Json::as_object_mut) else {
        return;
    };
    for property in properties.values_mut() {
        let Some(map) = property.as_object_mut() else { continue };
        if let Some(Json::Array(types)) = map.get_mut("type") {
            types.retain(|t| t != "null");
            if let [only] = types.as_slice() {
                let only = only.clone();
                map.insert("type".into(), only);
            }
        }
        let is_null = |b: &Json| b.get("type").and_then(Json::as_str) == Some("null");
        if let Some(Json::Array(branches)) = map.get("anyOf")
            && branches.iter().any(is_null)
        {
            let mut rest: Vec<Json> = branches.iter().filter(|b| !is_null(b)).cloned().collect();
            if rest.len() == 1 {
                map.remove("anyOf");
                if let Json::Object(inner) = rest.remove(0) {
                    for (k, v) in inner {
                        map.entry(k).or_insert(v);
                    }
                }
            } else {
                map.insert("anyOf".into(), Json::Array(rest));
            }
        }
    }
}

/// One schema for a file that holds documents of several kinds: `kind` picks the kind's schema
/// (`if`/`then` rather than `oneOf`, so that a validator reports the problems inside the
/// document instead of "valid under none of the schemas").
pub fn manifest_schema() -> &'static Json {
    static SCHEMA: OnceLock<Json> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let mut defs = serde_json::Map::new();
        let mut branches = Vec::new();
        for kind in Kind::ALL {
            let mut document = kind.schema().clone();
            let Some(map) = document.as_object_mut() else { continue };
            if let Some(Json::Object(own)) = map.remove("$defs") {
                for (name, def) in own {
                    // One set of raw types: a name means the same definition in every kind.
                    debug_assert!(defs.get(&name).is_none_or(|d| *d == def), "two definitions of {name}");
                    defs.insert(name, def);
                }
            }
            for key in ["$schema", "$id"] {
                map.remove(key);
            }
            defs.insert(kind.def_name().into(), document);
            branches.push(serde_json::json!({
                "if": {"properties": {"kind": {"const": kind.name()}}, "required": ["kind"]},
                "then": {"$ref": format!("#/$defs/{}", kind.def_name())},
            }));
        }
        let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        serde_json::json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": format!("{SCHEMA_BASE_URI}{MANIFEST_SCHEMA_FILE}"),
            "title": "tenantry manifest (any kind)",
            "description": "A tenantry manifest document of any kind (Customer, Reseller, Profile or Config), for files that hold several kinds; `kind` selects the kind's schema.",
            "type": "object",
            "properties": {"kind": {"enum": kinds, "description": "The kind of document."}},
            "required": ["kind"],
            "allOf": branches,
            "$defs": defs,
        })
    })
}

/// Every generated manifest schema file: `(file name, pretty JSON with a trailing newline)`.
/// (The plan format has a schema of its own: `plan::json::schema_file`.)
pub fn generate() -> Vec<(&'static str, String)> {
    Kind::ALL
        .into_iter()
        .map(|k| (k.schema_file(), pretty_json(k.schema())))
        .chain([(MANIFEST_SCHEMA_FILE, pretty_json(manifest_schema()))])
        .collect()
}
