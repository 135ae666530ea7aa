//! tenantry's clients and the sandbox's simulators against the vendors' own specifications
//! (`../shared/specs`: VCO API v1 swagger, Acronis Account Management v2 OpenAPI).
//!
//! One sandbox run of the example repository, with the journal on, records every request and
//! answer. Then, for the VCO and Acronis: every request names a documented route and method,
//! uses only documented query parameters, and its JSON body validates against the documented
//! request schema; every answer the simulator gave validates against the documented response
//! schema for its status. The validator is the independent `jsonschema` crate. The VCO swagger
//! is taken as written (swagger 2.0 has no null, so the simulator leaves unset fields out).
//! Acronis's OpenAPI 3.0 `nullable: true` is turned into JSON Schema's null, including where it
//! stands beside an `allOf` without a `type` (`deleted_at`, `owner_id`): a strict OAS 3.0.3
//! reading gives `nullable` no effect there, but the document's own descriptions say null ("This
//! field can have a null value", "null otherwise") and `deleted_at` is required, so null is what
//! it means. (Veeam: see `veeam_spec`.)

use std::path::PathBuf;

use serde_json::{Value as Json, json};

use crate::support::{Served, example_copy};

fn spec(name: &str) -> Json {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/specs").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("spec JSON")
}

/// A schema's own null marker (`keyword: true`) in JSON Schema terms, which these documents'
/// draft (4) lacks: a plain typed schema gets `null` among its types (and enum values), any
/// other (an `allOf`, a `$ref`, no type) is wrapped as `anyOf [it, null]`.
fn null_where(v: &mut Json, keyword: &str) {
    match v {
        Json::Object(map) => {
            for child in map.values_mut() {
                null_where(child, keyword);
            }
            if map.remove(keyword) == Some(Json::Bool(true)) {
                let plain = !map.contains_key("allOf") && !map.contains_key("$ref");
                match map.get("type").cloned() {
                    Some(Json::String(t)) if plain => {
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
        Json::Array(list) => list.iter_mut().for_each(|c| null_where(c, keyword)),
        _ => {}
    }
}

/// OpenAPI 3.0's `nullable: true`.
fn nullable_to_types(v: &mut Json) {
    null_where(v, "nullable");
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

/// Every vendor request of one life cycle, journalled: the example repository applied, an
/// address changed in two customers' manifests (syncs at every vendor that holds one), and a
/// customer removed with prune (deletes).
async fn journal() -> Vec<Json> {
    let served = Served::start(&["--journal"]);
    let dir = example_copy();
    let d = dir.path().to_string_lossy().to_string();
    let r = served.run(&["apply", &d, "--auto-approve"]);
    assert_eq!(r.code, 0, "{r}");
    let edit = |file: &str, from: &str, to: &str| {
        let path = dir.path().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} has no {from:?}");
        std::fs::write(&path, text.replace(from, to)).unwrap();
    };
    edit("customers/globex.yaml", "350 Cypress Creek Road", "1 Cypress Creek Road");
    edit("customers/acme.yaml", "1 Main Street", "2 Main Street");
    edit(
        "customers/wayne.yaml",
        "acronis: {username: wayne-admin, email: it@",
        "acronis: {username: wayne-admin, email: admin@",
    );
    let r = served.run(&["apply", &d, "--auto-approve"]);
    assert_eq!(r.code, 0, "{r}");
    assert!(r.stdout.contains("1 Cypress Creek Road") && r.stdout.contains("2 Main Street"), "planned: {r}");
    std::fs::remove_file(dir.path().join("customers/globex.yaml")).unwrap();
    let r = served.run(&["apply", &d, "--auto-approve", "--prune", "--allow-irreversible"]);
    // AvePoint disconnects only customers without active subscriptions: that step stays
    // blocked, so the run is not a success (exit 1); the other deletes are done.
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stdout.contains("3 done, 0 failed, 0 waiting, 1 blocked"), "{r}");
    assert!(r.stdout.contains("AvePoint disconnects only customers without active subscriptions"), "{r}");
    let dump = served.dump().await;
    let names: Vec<&str> =
        dump["veeam"].as_array().unwrap().iter().filter_map(|o| o["company"]["name"].as_str()).collect();
    assert!(!names.is_empty() && !names.contains(&"Globex Corporation"), "globex was pruned: {names:?}");
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
    let mut seen = std::collections::BTreeSet::new();

    // VeloCloud: swagger 2.0, every method a POST under basePath /portal/rest.
    let vco = spec("velocloud-vco-v1-swagger-5.0.0-dist.json");
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
        seen.insert(format!("VCO {route}"));
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
        seen.insert(format!("Acronis {} {template}", method.to_uppercase()));
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
        match op.pointer("/requestBody/content/application~1json/schema") {
            Some(schema) if x["body"].is_object() => {
                let what = || format!("Acronis {method} {template} request {}", x["body"]);
                check(&acronis, "components", schema, &x["body"], what, &mut problems);
                checked.1 += 1;
            }
            None if op.get("requestBody").is_none() && !x["body"].is_null() => {
                problems.push(format!("Acronis {method} {template}: a request body where the OpenAPI defines none"));
            }
            _ => {}
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
    // Creates, reads, syncs and deletes of both vendors were exercised.
    for op in [
        "Acronis POST /idp/token",
        "Acronis GET /tenants",
        "Acronis POST /tenants",
        "Acronis PUT /tenants/{tenant_id}",
        "Acronis DELETE /tenants/{tenant_id}",
        "Acronis GET /users",
        "Acronis POST /users",
        "Acronis PUT /users/{user_id}",
        "Acronis PUT /users/{user_id}/access_policies",
        "Acronis POST /users/{user_id}/send-activation-email",
        "VCO /enterpriseProxy/getEnterpriseProxyEnterprises",
        "VCO /enterpriseProxy/insertEnterpriseProxyEnterprise",
        "VCO /enterprise/cloneEnterpriseV2",
        "VCO /enterprise/updateEnterprise",
    ] {
        assert!(seen.contains(op), "{op} was not exercised; seen: {seen:#?}");
    }
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

/// VSPC 3.7 marks what may be null with its own `x-veeam-nullable: true` (swagger 2.0 cannot
/// say null).
fn veeam_nullable(v: &mut Json) {
    null_where(v, "x-veeam-nullable");
}

/// The VSPC 3.7 document, made checkable, with each allowance for an artefact of the document
/// itself (not of the API) and why:
fn veeam_spec() -> Json {
    let mut s = spec("veeam-vspc-rest-3.7-swagger.json");
    veeam_nullable(&mut s);
    let defs = &mut s["definitions"];
    // 1. `AsyncActionInfo.status` is declared `type: object` with `allOf: [AsyncActionStatus]`,
    //    a string enum: no value can be both; the document's own example answers a string.
    defs["AsyncActionInfo"]["properties"]["status"] = json!({"$ref": "#/definitions/AsyncActionStatus"});
    // 2. `JsonPatch.value` is declared `type: string`, while the document's own `JsonPatches`
    //    example patches a number (`storageQuota`): a patch value is any JSON value (RFC 6902).
    if let Some(v) = defs["JsonPatch"]["properties"]["value"].as_object_mut() {
        v.remove("type");
    }
    s
}

/// Validators with the formats the document uses and JSON Schema draft 4 does not define.
fn veeam_validator(spec: &Json, schema: &Json) -> jsonschema::Validator {
    let mut root = schema.clone();
    if let Json::Object(map) = &mut root {
        map.insert("definitions".into(), spec["definitions"].clone());
    }
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(true)
        .with_format("uuid", |s: &str| uuid::Uuid::parse_str(s).is_ok())
        .with_format("int32", |_: &str| true)
        .with_format("int64", |_: &str| true)
        .with_format("password", |_: &str| true)
        .build(&root)
        .unwrap_or_else(|e| panic!("the VSPC schema does not compile: {e}"))
}

fn veeam_check(spec: &Json, schema: &Json, value: &Json, what: impl FnOnce() -> String, problems: &mut Vec<String>) {
    let errs = errors(&veeam_validator(spec, schema), value);
    if !errs.is_empty() {
        problems.push(format!("{}: {errs:?}", what()));
    }
}

/// The documented path template for a concrete VSPC path: literal segments win over
/// parameters (`/organizations/companies` is not `/organizations/{organizationUid}`).
fn veeam_route<'a>(spec: &'a Json, route: &str) -> Option<(&'a String, &'a Json)> {
    spec["paths"]
        .as_object()?
        .iter()
        .filter(|(t, _)| template_matches(t, route))
        .max_by_key(|(t, _)| t.split('/').filter(|s| !s.starts_with('{')).count())
}

/// A query or header value (always text on the wire) as the JSON its parameter declares.
fn typed(schema: &Json, text: &str) -> Json {
    match schema["type"].as_str() {
        Some("integer") => text.parse::<i64>().map(Json::from).unwrap_or_else(|_| json!(text)),
        Some("boolean") => text.parse::<bool>().map(Json::from).unwrap_or_else(|_| json!(text)),
        _ => json!(text),
    }
}

/// A non-body parameter's own schema (swagger 2.0 keeps type, format, enum and bounds on the
/// parameter itself).
fn parameter_schema(p: &Json) -> Json {
    let mut s = serde_json::Map::new();
    for k in ["type", "format", "enum", "minimum", "maximum", "pattern", "minLength", "maxLength"] {
        if let Some(v) = p.get(k) {
            s.insert(k.into(), v.clone());
        }
    }
    Json::Object(s)
}

/// `a=1&b=x%20y` as (name, value) pairs.
fn query_pairs(query: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{query}"))
        .map(|u| u.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
        .unwrap_or_default()
}

/// One exchange with the Veeam simulator against the 3.7 document: route, method, path, query
/// and header parameters, body (unless `request` is false: a request invalid on purpose), and
/// the answer's schema and status.
fn check_veeam_exchange(spec: &Json, x: &Json, request: bool, problems: &mut Vec<String>) -> (usize, usize) {
    let mut checked = (0, 0);
    let path = x["path"].as_str().unwrap_or_default();
    let Some(route) = path.strip_prefix("/api/v3") else {
        problems.push(format!("VSPC request outside /api/v3: {path}"));
        return checked;
    };
    let method = x["method"].as_str().unwrap_or_default().to_lowercase();
    let Some((template, item)) = veeam_route(spec, route) else {
        problems.push(format!("VSPC {method} {route} matches no path in the 3.7 document"));
        return checked;
    };
    let Some(op) = item.get(&method) else {
        problems.push(format!("VSPC {template} has no {method} in the 3.7 document"));
        return checked;
    };
    let params: Vec<&Json> = item["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(op["parameters"].as_array().into_iter().flatten())
        .map(|p| deref(spec, p))
        .collect();
    let of = |place: &'static str| params.iter().filter(move |p| p["in"] == place).copied();
    let mut req = Vec::new();
    // Path parameters, by position in the template.
    for (t, v) in template.split('/').zip(route.split('/')) {
        if let Some(name) = t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            match of("path").find(|p| p["name"] == name) {
                Some(p) => veeam_check(
                    spec,
                    &parameter_schema(p),
                    &json!(v),
                    || format!("VSPC {method} {template}: path parameter {name} = {v:?}"),
                    &mut req,
                ),
                None => req.push(format!("VSPC {template}: path parameter {name} is not documented")),
            }
        }
    }
    // Query parameters: documented, typed as documented, required ones present.
    let pairs = query_pairs(x["query"].as_str().unwrap_or_default());
    for (name, value) in &pairs {
        let Some(p) = of("query").find(|p| p["name"] == name.as_str()) else {
            req.push(format!("VSPC {method} {template}: query parameter `{name}` is not documented"));
            continue;
        };
        let schema = match p["type"].as_str() {
            Some("array") => deref(spec, &p["items"]).clone(),
            _ => parameter_schema(p),
        };
        let what = || format!("VSPC {method} {template}: query {name}={value:?}");
        veeam_check(spec, &schema, &typed(&schema, value), what, &mut req);
    }
    for p in of("query").filter(|p| p["required"] == true) {
        if !pairs.iter().any(|(n, _)| p["name"] == n.as_str()) {
            req.push(format!("VSPC {method} {template}: required query parameter {} is missing", p["name"]));
        }
    }
    // Headers of the API's own (`X-...`): documented for the operation, values as documented.
    for (name, value) in x["headers"].as_object().into_iter().flatten() {
        if !name.starts_with("x-") {
            continue;
        }
        match of("header").find(|p| p["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name))) {
            Some(p) => {
                let v = value.as_str().unwrap_or_default();
                let what = || format!("VSPC {method} {template}: header {name}: {v}");
                veeam_check(spec, &parameter_schema(p), &json!(v), what, &mut req);
            }
            None => req.push(format!("VSPC {method} {template}: header {name} is not documented")),
        }
    }
    // The body: JSON against the body parameter's schema; a form (the token endpoint) by its
    // field names only (its values are credentials).
    if let Some(p) = of("body").next() {
        let what = || format!("VSPC {method} {template} request body");
        veeam_check(spec, &p["schema"], &x["body"], what, &mut req);
        checked.0 += 1;
    } else if let Some(form) = x["body"].as_str() {
        for (name, _) in query_pairs(form) {
            if !of("formData").any(|p| p["name"] == name.as_str()) {
                req.push(format!("VSPC {method} {template}: form field `{name}` is not documented"));
            }
        }
    } else if !x["body"].is_null() {
        req.push(format!("VSPC {method} {template}: a body where the document defines none"));
    }
    if request {
        problems.extend(req);
    }
    // The answer: a documented status, its schema; errors as the default response says.
    let status = x["status"].as_u64().unwrap_or_default();
    let documented = op["responses"].get(status.to_string());
    let response = documented.or_else(|| op["responses"].get("default")).map(|r| deref(spec, r));
    let Some(response) = response else {
        problems.push(format!("VSPC {method} {template}: status {status} is not documented"));
        return checked;
    };
    if documented.is_none() {
        // "All client errors (400-499) are returned with the associated HTTP status codes. All
        // server errors (>=500) as well as errors with custom error codes are returned with the
        // 520 HTTP status code."
        for e in x["answer"]["errors"].as_array().into_iter().flatten() {
            let code = e["code"].as_u64().unwrap_or_default();
            let want = if (400..500).contains(&code) { code } else { 520 };
            if status != want && !(status == 429 && code == 429) {
                problems
                    .push(format!("VSPC {method} {template}: error code {code} answered with {status}, not {want}"));
            }
        }
    }
    if let Some(schema) = response.get("schema") {
        let what = || format!("VSPC {method} {template} {status} answer {}", x["answer"]);
        veeam_check(spec, schema, &x["answer"], what, problems);
        checked.1 += 1;
    } else if !x["answer"].is_null() {
        problems.push(format!("VSPC {method} {template}: a {status} body where the document defines none"));
    }
    checked
}

#[tokio::test(flavor = "multi_thread")]
async fn veeam_requests_and_answers_match_the_vspc_3_7_document() {
    let spec = veeam_spec();
    let exchanges: Vec<Json> = journal().await.into_iter().filter(|x| x["vendor"] == "veeam").collect();
    let mut problems = Vec::new();
    let (mut bodies, mut answers) = (0, 0);
    let mut seen = std::collections::BTreeSet::new();
    for x in &exchanges {
        let (b, a) = check_veeam_exchange(&spec, x, true, &mut problems);
        bodies += b;
        answers += a;
        let route = x["path"].as_str().unwrap_or_default().trim_start_matches("/api/v3");
        if let Some((template, _)) = veeam_route(&spec, route) {
            seen.insert(format!("{} {template}", x["method"].as_str().unwrap_or_default()));
        }
    }
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
    // Every kind of request tenantry's Veeam client sends was exercised (not a vacuous pass).
    for op in [
        "POST /token",
        "GET /organizations/companies",
        "POST /organizations/companies",
        "PATCH /organizations/{organizationUid}",
        "DELETE /organizations/companies/{companyUid}",
        "GET /asyncActions/{actionId}",
        "GET /asyncActions/{actionId}/result",
        "GET /pulse/tenants",
        "POST /pulse/tenants",
    ] {
        assert!(seen.contains(op), "{op} was not exercised; seen: {seen:?}");
    }
    assert!(bodies >= 3 && answers > 20, "checked bodies {bodies}, answers {answers}");
}

/// Each documented refusal the simulator gives, sent the way an integrator would, against the
/// document: custom codes with 520, client errors with their own status, the `ErrorResponse`
/// body, and the answers around them (`EmptyResponse` on delete, async actions, Pulse).
#[tokio::test(flavor = "multi_thread")]
async fn veeam_refusals_and_async_answers_have_the_documented_status_and_shape() {
    use tenantry::sandbox::credentials::{VEEAM_PASSWORD, VEEAM_USER};
    let spec = veeam_spec();
    let served = Served::start(&["--journal", "--pulse-delay", "60"]);
    let base = served.urls["veeam"].as_str().unwrap().to_string();
    let http = crate::support::client();
    let form = [("grant_type", "password"), ("username", VEEAM_USER), ("password", VEEAM_PASSWORD)];
    let token: Json = http.post(format!("{base}/token")).form(&form).send().await.unwrap().json().await.unwrap();
    let token = token["access_token"].as_str().unwrap().to_string();
    let company = |name: &str, user: &str| json!({"organizationInput": {"name": name}, "ownerCredentials": {"userName": user, "password": "Sandbox-Passw0rd!"}});
    let post = |body: Json, rid: Option<&str>| {
        let mut r = http.post(format!("{base}/organizations/companies")).bearer_auth(&token).json(&body);
        if let Some(rid) = rid {
            r = r.header("X-Request-id", rid);
        }
        r.send()
    };
    let first: Json = post(company("Refusal Co", "refusal-owner"), None).await.unwrap().json().await.unwrap();
    let uid = first["data"]["instanceUid"].as_str().unwrap().to_string();
    let statuses = [
        post(company("REFUSAL CO", "other-owner"), None).await.unwrap().status().as_u16(), // 1200
        post(company("Other Co", "refusal-owner"), None).await.unwrap().status().as_u16(), // 1201
        post(json!({"organizationInput": {}, "ownerCredentials": {"userName": "x"}}), None)
            .await
            .unwrap()
            .status()
            .as_u16(), // 400
    ];
    assert_eq!(statuses, [520, 520, 400]);
    let rid = "9a3c1f0e-5b7d-4e2a-8c6f-1d0b3a5e7c9f";
    let queued = post(company("Queued Co", "queued-owner"), Some(rid)).await.unwrap();
    assert_eq!(queued.status(), 202);
    let action = format!("{base}/asyncActions/{rid}");
    let early = http.get(format!("{action}/result")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(early.status(), 520, "1500 still running");
    http.get(&action).bearer_auth(&token).send().await.unwrap();
    let pulse = http.post(format!("{base}/pulse/tenants?companyUid={uid}")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(pulse.status(), 200);
    let again = http.post(format!("{base}/pulse/tenants?companyUid={uid}")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(again.status(), 520, "1301 already mapped");
    let patch = json!([{"op": "test", "path": "/name", "value": "Not The Name"}]);
    let org = first["data"]["_embedded"]["organization"]["instanceUid"].as_str().unwrap();
    let failed =
        http.patch(format!("{base}/organizations/{org}")).bearer_auth(&token).json(&patch).send().await.unwrap();
    assert_eq!(failed.status(), 520, "1001 failed JSON Patch");
    let missing = http.get(format!("{base}/pulse/tenants/{rid}")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let deleted = http
        .delete(format!("{base}/organizations/companies/{uid}?removeAllAgents=false"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    let anonymous = http.get(format!("{base}/organizations/companies")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);

    let journal = served.get("/_sandbox/requests").await;
    let mut problems = Vec::new();
    let exchanges = journal["exchanges"].as_array().unwrap();
    for x in exchanges {
        // A 400 answers a request made invalid on purpose: only its answer is checked.
        check_veeam_exchange(&spec, x, x["status"] != 400, &mut problems);
    }
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
    assert!(exchanges.len() >= 14, "{}", exchanges.len());
}
