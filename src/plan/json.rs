//! The plan as JSON: the format written by `plan --format json` and `plan --out FILE`, and its
//! schema (`schemas/plan.schema.json`). `formatVersion` changes on incompatible changes.

use serde_json::Value as Json;

use super::Plan;

/// The JSON Schema of the plan format.
pub fn schema() -> Json {
    serde_json::to_value(schemars::schema_for!(Plan)).unwrap_or(Json::Null)
}

/// The plan as pretty JSON with a trailing newline.
pub fn render(plan: &Plan) -> String {
    let mut s = serde_json::to_string_pretty(plan).unwrap_or_default();
    s.push('\n');
    s
}

/// Read a plan file, checking its format version.
pub fn parse(text: &str) -> Result<Plan, String> {
    let value: Json = serde_json::from_str(text).map_err(|e| format!("not a tenantry plan (invalid JSON: {e})"))?;
    match value.get("formatVersion").and_then(Json::as_u64) {
        Some(v) if v == u64::from(super::FORMAT_VERSION) => {}
        Some(v) => {
            return Err(format!(
                "plan format version {v} is not supported by this tenantry (it reads version {}); make the plan again with this version",
                super::FORMAT_VERSION
            ));
        }
        None => return Err("not a tenantry plan (no formatVersion)".into()),
    }
    serde_json::from_value(value).map_err(|e| format!("not a valid tenantry plan: {e}"))
}

/// The committed file of the plan JSON format: `("plan.schema.json", pretty JSON)`.
pub fn schema_file() -> (&'static str, String) {
    ("plan.schema.json", crate::core::pretty_json(&schema()))
}
