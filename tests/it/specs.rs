//! tenantry's clients and the sandbox's simulators against the vendors' own specifications
//! (`../shared/specs`: VCO API v1 swagger, Acronis Account Management v2 OpenAPI).
//!
//! One sandbox run of the example repository, with the journal on, records every request and
//! answer. Then, for the VCO and Acronis: every request names a documented route and method,
//! uses only documented query parameters, and its JSON body validates against the documented
//! request schema; every answer the simulator gave validates against the documented response
//! schema for its status. The validator is the independent `jsonschema` crate. Two documented
//! gaps in the specifications are bridged: OpenAPI 3.0 `nullable` is turned into JSON Schema,
//! and swagger 2.0 (which cannot express null) accepts null where the VCO reports unset fields.

use std::path::PathBuf;

use serde_json::{Value as Json, json};

use crate::support::{Served, example_copy};

fn spec(name: &str) -> Json {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/specs").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("spec JSON")
}

/// OpenAPI 3.0's `nullable: true` in JSON Schema terms (draft 4 has no such keyword).
fn nullable_to_types(v: &mut Json) {
    match v {
        Json::Object(map) => {
            for child in map.values_mut() {
                nullable_to_types(child);
            }
            if map.remove("nullable") == Some(Json::Bool(true)) {
                match map.get("type").cloned() {
                    Some(Json::String(t)) => {
                        map.insert("type".into(), json!([t, "null"]));
                        if let Some(Json::Array(e)) = map.get_mut("enum") {
                            e.push(Json::Null);
                        }
                    }
                    _ => {
                        let inner = Json::Object(std::mem::take(map));
                        map.insert("anyOf".into(), json!([inner, {"type": "null"}]));
                    }
                }
            }
        }
        Json::Array(list) => list.iter_mut().for_each(nullable_to_types),
        _ => {}
    }
}

/// The VCO reports unset fields as `null` (and requires them present), which swagger 2.0
/// cannot say: accept null wherever the swagger names a type.
fn allow_null(v: &mut Json) {
    match v {
        Json::Object(map) => {
            for child in map.values_mut() {
                allow_null(child);
            }
            if let Some(Json::String(t)) = map.get("type").cloned()
                && t != "null"
            {
                map.insert("type".into(), json!([t, "null"]));
                if let Some(Json::Array(e)) = map.get_mut("enum") {
                    e.push(Json::Null);
                }
            }
        }
        Json::Array(list) => list.iter_mut().for_each(allow_null),
        _ => {}
    }
}

/// A validator for `schema`, whose `$ref`s point into `defs_at` of the spec (`definitions`
/// for swagger 2, `components` for OpenAPI 3).
fn validator(spec: &Json, defs_at: &str, schema: &Json) -> jsonschema::Validator {
    let mut root = schema.clone();
    if let Json::Object(map) = &mut root {
        map.insert(defs_at.into(), spec[defs_at].clone());
    }
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .build(&root)
        .unwrap_or_else(|e| panic!("the spec's schema does not compile: {e}"))
}

fn errors(v: &jsonschema::Validator, instance: &Json) -> Vec<String> {
    v.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).take(5).collect()
}

/// A spec path template (`/tenants/{tenant_id}`) matching a concrete path.
fn template_matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    t.len() == p.len() && t.iter().zip(&p).all(|(a, b)| (a.starts_with('{') && a.ends_with('}')) || a == b)
}

/// Follow a `$ref` to a reusable response or parameter (`#/responses/generic_400`).
fn deref<'a>(spec: &'a Json, v: &'a Json) -> &'a Json {
    match v.get("$ref").and_then(Json::as_str) {
        Some(r) => spec.pointer(r.trim_start_matches('#')).unwrap_or(v),
        None => v,
    }
}

async fn journal() -> Vec<Json> {
    let served = Served::start(&["--journal"]);
    let dir = example_copy();
    let d = dir.path().to_string_lossy().to_string();
    let r = served.run(&["apply", &d, "--auto-approve"]);
    assert_eq!(r.code, 0, "{r}");
    let journal = served.get("/_sandbox/requests").await;
    journal["exchanges"].as_array().expect("exchanges").clone()
}

/// Validate `value` against `schema` (its references resolved in `spec`'s `section`); a
/// mismatch becomes a problem named by `what`.
fn check(
    spec: &Json,
    section: &str,
    schema: &Json,
    value: &Json,
    what: impl FnOnce() -> String,
    problems: &mut Vec<String>,
) {
    let errs = errors(&validator(spec, section, schema), value);
    if !errs.is_empty() {
        problems.push(format!("{}: {errs:?}", what()));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn vco_and_acronis_requests_and_answers_match_the_vendor_specifications() {
    let exchanges = journal().await;
    let mut problems = Vec::new();
    let mut checked = (0, 0, 0);

    // VeloCloud: swagger 2.0, every method a POST under basePath /portal/rest.
    let mut vco = spec("velocloud-vco-v1-swagger-5.0.0-dist.json");
    allow_null(&mut vco);
    for x in exchanges.iter().filter(|x| x["vendor"] == "velocloud") {
        let path = x["path"].as_str().unwrap();
        let Some(route) = path.strip_prefix("/portal/rest") else {
            problems.push(format!("VCO request outside /portal/rest: {path}"));
            continue;
        };
        let Some(op) = vco["paths"].get(route).and_then(|p| p.get(x["method"].as_str().unwrap().to_lowercase())) else {
            problems.push(format!("VCO {} {route} is not in the swagger", x["method"]));
            continue;
        };
        checked.0 += 1;
        let body_schema = op["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().map(|p| deref(&vco, p)).find(|p| p["in"] == "body"))
            .map(|p| p["schema"].clone());
        if let Some(schema) = body_schema {
            check(
                &vco,
                "definitions",
                &schema,
                &x["body"],
                || format!("VCO {route} request {}", x["body"]),
                &mut problems,
            );
            checked.1 += 1;
        }
        let status = x["status"].as_u64().unwrap().to_string();
        if status == "200"
            && let Some(schema) = op["responses"].get(&status).map(|r| deref(&vco, r)).and_then(|r| r.get("schema"))
        {
            check(&vco, "definitions", schema, &x["answer"], || format!("VCO {route} answer"), &mut problems);
            checked.2 += 1;
        }
    }

    // Acronis: OpenAPI 3.0 under /api/2.
    let mut acronis = spec("acronis-account-management-v2-openapi.json");
    nullable_to_types(&mut acronis);
    for x in exchanges.iter().filter(|x| x["vendor"] == "acronis") {
        let path = x["path"].as_str().unwrap();
        let Some(route) = path.strip_prefix("/api/2") else {
            problems.push(format!("Acronis request outside /api/2: {path}"));
            continue;
        };
        let method = x["method"].as_str().unwrap().to_lowercase();
        let found = acronis["paths"].as_object().unwrap().iter().find(|(t, _)| template_matches(t, route));
        let Some((template, item)) = found else {
            problems.push(format!("Acronis {method} {route} matches no path in the OpenAPI"));
            continue;
        };
        let Some(op) = item.get(&method) else {
            problems.push(format!("Acronis {template} has no {method} in the OpenAPI"));
            continue;
        };
        checked.0 += 1;
        let params: Vec<&Json> = item["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(op["parameters"].as_array().into_iter().flatten())
            .map(|p| deref(&acronis, p))
            .collect();
        for pair in x["query"].as_str().unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
            let name = pair.split('=').next().unwrap_or_default();
            if !params.iter().any(|p| p["in"] == "query" && p["name"] == name) {
                problems.push(format!("Acronis {method} {template}: query parameter `{name}` is not documented"));
            }
        }
        if let Some(schema) = op.pointer("/requestBody/content/application~1json/schema")
            && x["body"].is_object()
        {
            let what = || format!("Acronis {method} {template} request {}", x["body"]);
            check(&acronis, "components", schema, &x["body"], what, &mut problems);
            checked.1 += 1;
        }
        let status = x["status"].as_u64().unwrap().to_string();
        if let Some(schema) = op["responses"].get(&status).and_then(|r| r.pointer("/content/application~1json/schema"))
            && !x["answer"].is_null()
        {
            let what = || format!("Acronis {method} {template} {status} answer");
            check(&acronis, "components", schema, &x["answer"], what, &mut problems);
            checked.2 += 1;
        }
    }
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
    // The run exercised both vendors' routes, bodies and answers (not a vacuous pass).
    assert!(checked.0 > 20 && checked.1 > 5 && checked.2 > 10, "checked (routes, bodies, answers): {checked:?}");
}

#[test]
fn every_vco_method_the_simulator_serves_is_in_the_swagger_and_extensions_are_named() {
    use tenantry::sandbox::velocloud::{EXTENSIONS, METHODS};
    let vco = spec("velocloud-vco-v1-swagger-5.0.0-dist.json");
    for m in METHODS {
        assert!(vco["paths"][format!("/{m}")]["post"].is_object(), "{m} is not a POST in the VCO v1 swagger");
    }
    for (method, field, why) in EXTENSIONS {
        assert!(METHODS.contains(method), "extension for unserved method {method}");
        assert!(!why.is_empty());
        // An extension is a field the method's schema does not list (else it is no extension).
        let body = vco["paths"][format!("/{method}")]["post"]["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().map(|p| deref(&vco, p)).find(|p| p["in"] == "body"))
            .map(|p| p["schema"].clone())
            .unwrap_or(Json::Null);
        let listed = field.split('.').try_fold(body, |schema, part| {
            let mut s = schema;
            while let Some(r) = s.get("$ref").and_then(Json::as_str) {
                s = vco.pointer(r.trim_start_matches('#')).cloned().unwrap_or(Json::Null);
            }
            s["properties"].get(part).cloned()
        });
        assert!(listed.is_none(), "{method}: {field} is in the swagger, so it is no extension");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_acronis_route_the_simulator_serves_is_documented_and_refuses_a_missing_token() {
    use tenantry::sandbox::acronis::ROUTES;
    let mut acronis = spec("acronis-account-management-v2-openapi.json");
    nullable_to_types(&mut acronis);
    let served = Served::start(&[]);
    let base = served.urls["acronis"].as_str().expect("acronis URL").to_string();
    let http = crate::support::client();
    for (method, route) in ROUTES {
        let documented = acronis["paths"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(t, _)| template_matches(t, route))
            .and_then(|(_, item)| item.get(method.to_lowercase()));
        assert!(documented.is_some(), "{method} {route} is not in the Acronis OpenAPI");
        let path = route.replace("{id}", "8f14e45f-ceea-467f-a0e6-1f8a3b2c9d70");
        let req = http.request(method.parse().unwrap(), format!("{base}{path}"));
        let req = match (*method, *route) {
            ("GET" | "DELETE", _) => req,
            (_, "/idp/token") => req.form(&[("grant_type", "client_credentials")]),
            _ => req.json(&json!({})),
        };
        let resp = req.send().await.expect("request");
        assert_eq!(resp.status().as_u16(), 401, "{method} {route} without a token");
        let body: Json = resp.json().await.expect("JSON error body");
        // The route's own documented 401 body (the token endpoint answers in OAuth 2 form).
        let schema = documented
            .and_then(|op| op.pointer("/responses/401/content/application~1json/schema"))
            .cloned()
            .unwrap_or_else(|| json!({"$ref": "#/components/schemas/errorScheme"}));
        let errs = errors(&validator(&acronis, "components", &schema), &body);
        assert!(errs.is_empty(), "{method} {route}: {body} is not the documented error: {errs:?}");
    }
}
