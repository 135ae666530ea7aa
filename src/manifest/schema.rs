//! The JSON Schemas of the manifest kinds, generated from the raw types. They are committed under
//! `schemas/` for editors (`tenantry schema` writes them, a test fails when they drift) and used
//! at run time by the structural check, so the editor and `validate` agree by construction.

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
            let to_json = |s: schemars::Schema| serde_json::to_value(s).unwrap_or(Json::Null);
            [
                to_json(schemars::schema_for!(raw::CustomerDocument)),
                to_json(schemars::schema_for!(raw::ResellerDocument)),
                to_json(schemars::schema_for!(raw::ProfileDocument)),
                to_json(schemars::schema_for!(raw::ConfigDocument)),
            ]
        });
        &all[self as usize]
    }
}

/// Every generated manifest schema file: `(file name, pretty JSON with a trailing newline)`.
/// (The plan format has a schema of its own: `plan::json::schema_file`.)
pub fn generate() -> Vec<(&'static str, String)> {
    Kind::ALL.into_iter().map(|k| (k.schema_file(), pretty_json(k.schema()))).collect()
}
