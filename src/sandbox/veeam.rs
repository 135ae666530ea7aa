//! Veeam Service Provider Console REST v3 (and its VCSP Pulse plugin), plus the VCSP Pulse
//! portal's VDC registration. Follows providers.md section 1: the `{data, meta, errors}`
//! envelope, `limit`/`offset` paging (default 100, at most 500), `filter`, 202 + `Location` for
//! asynchronous actions keyed by `X-Request-id` (replays within 5 minutes return the same
//! action), JSON Patch with `test` and `failedJsonPatch`, and Pulse mapping `MappingInProggress`
//! -> `Mapped` (spelling as the vendor's). Answers follow the VSPC 3.7 document
//! (`../shared/specs/veeam-vspc-rest-3.7-swagger.json`): client errors (400-499) with their own
//! status, server errors and every custom error code (1200, 1201, 1300, 1301, 1500, 1001) with
//! 520; `EmptyResponse` as `{errors: []}`; async actions with UUIDs and array query parameters.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State as Ax};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use super::{Options, Shared, World, after, bearer, credentials, window};
use crate::model::Vendor;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    pub companies: BTreeMap<String, Company>,
    pub pulse_status: String,
    pub pulse_tenants: BTreeMap<String, PulseTenant>,
    pub actions: BTreeMap<String, AsyncAction>,
    /// The VCSP Pulse portal's view of customers, by Pulse tenant uid.
    pub portal: BTreeMap<String, PortalCustomer>,
    /// The next Pulse mapping fails (set through the admin API).
    pub fail_next_mapping: bool,
}

impl State {
    pub fn seeded() -> Self {
        State { pulse_status: "Configured".into(), ..State::default() }
    }

    pub fn dump(&self) -> Json {
        let mut out: Vec<Json> =
            self.companies.values().map(|c| json!({"type": "company", "company": c.to_json()})).collect();
        out.extend(self.pulse_tenants.values().map(|t| json!({"type": "pulseTenant", "tenant": t.to_json()})));
        out.extend(
            self.portal.iter().map(|(uid, p)| json!({"type": "pulsePortalCustomer", "tenantUid": uid, "customer": p})),
        );
        Json::Array(out)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Company {
    pub instance_uid: String,
    pub organization_uid: String,
    pub status: String,
    pub owner_user_name: String,
    pub reseller_uid: Option<String>,
    pub is_rest_access_enabled: bool,
    pub is_alarm_detect_enabled: bool,
    /// organizationInput fields, by their API names.
    pub organization: serde_json::Map<String, Json>,
}

impl Company {
    fn name(&self) -> &str {
        self.organization.get("name").and_then(Json::as_str).unwrap_or_default()
    }

    pub fn to_json(&self) -> Json {
        let mut org = self.organization.clone();
        org.insert("instanceUid".into(), json!(self.organization_uid));
        json!({
            "instanceUid": self.instance_uid,
            "name": self.name(),
            "status": self.status,
            "resellerUid": self.reseller_uid,
            "subscriptionPlanUid": null,
            "isRestAccessEnabled": self.is_rest_access_enabled,
            "isAlarmDetectEnabled": self.is_alarm_detect_enabled,
            "companyServices": {"remoteServices": {"isBackupResourcesEnabled": true}},
            "ownerCredentials": {"userName": self.owner_user_name},
            "loginUrl": "https://vspc.sandbox.invalid",
            "_embedded": {"organization": org},
        })
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PulseTenant {
    pub instance_uid: String,
    pub name: String,
    pub mapping_status: String,
    pub mapping_status_message: Option<String>,
    pub mapped_master_organization_uid: String,
    pub due: Option<Timestamp>,
    pub fail: bool,
}

impl PulseTenant {
    pub fn to_json(&self) -> Json {
        let mut t = json!({
            "instanceUid": self.instance_uid,
            "name": self.name,
            "mappingStatus": self.mapping_status,
            "mappedMasterOrganizationUid": self.mapped_master_organization_uid,
            "mergedOrganizationUids": [],
        });
        // A string, not nullable, in the document: absent when there is no message.
        if let Some(m) = &self.mapping_status_message {
            t["mappingStatusMessage"] = json!(m);
        }
        t
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AsyncAction {
    pub id: String,
    pub action_name: String,
    pub status: String,
    pub query_parameters: Json,
    pub request_body: Json,
    pub result: Json,
    pub started: Timestamp,
    pub due: Timestamp,
}

/// A customer as VCSP Pulse shows it in the ProPartner portal.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortalCustomer {
    pub name: String,
    pub customer_type: String,
    pub status: String,
    pub vdc_registered: bool,
    pub vdc_request: Option<Json>,
    pub active_at: Option<Timestamp>,
    /// When the registered customer's first VDC backup ran (its users protected), from which
    /// `GET /pulse/monthlyUsages` reports its workloads; `None`: nothing protected yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vdc_usage_from: Option<Timestamp>,
    /// When its VDC protection stopped (the registration removed in the portal): months after
    /// this one report no usage, the months before still do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vdc_usage_until: Option<Timestamp>,
}

pub fn settle(w: &mut World, now: Timestamp, _opts: &Options) {
    let s = &mut w.veeam;
    for t in s.pulse_tenants.values_mut() {
        if t.mapping_status == "MappingInProggress" && t.due.is_some_and(|d| d <= now) {
            if t.fail {
                t.mapping_status = "FailedToMap".into();
                t.mapping_status_message = Some(
                    "Customer verification failed in VCSP Pulse: the customer domain could not be verified.".into(),
                );
            } else {
                t.mapping_status = "Mapped".into();
                t.mapping_status_message = None;
            }
        }
    }
    for p in s.portal.values_mut() {
        if p.status == "Pending verification" && p.active_at.is_some_and(|d| d <= now) {
            p.status = "Active".into();
        }
    }
    for a in s.actions.values_mut() {
        if a.status == "running" && a.due <= now {
            a.status = "succeed".into();
        }
    }
    // Results are kept 5 minutes after success, an hour after failure.
    s.actions.retain(|_, a| {
        let keep = if a.status == "failed" { Duration::from_secs(3600) } else { Duration::from_secs(300) };
        a.status == "running" || after(a.due, keep) > now
    });
}

/// A single object's answer (the document's `{data, meta?, errors?}`; no paging, so no `meta`).
fn envelope(data: Json) -> Json {
    json!({"data": data, "errors": []})
}

/// The HTTP status of an error with `code`, as the 3.7 document's default response says: "All
/// client errors (400-499) are returned with the associated HTTP status codes. All server errors
/// (>=500) as well as errors with custom error codes are returned with the 520 HTTP status code."
pub fn status_for(code: u32) -> StatusCode {
    match u16::try_from(code) {
        Ok(c @ 400..=499) => StatusCode::from_u16(c).unwrap_or(StatusCode::BAD_REQUEST),
        _ => StatusCode::from_u16(520).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// The VSPC error body, `ErrorResponse`: `{errors: [{message, type, code}]}`, with the status
/// the code implies ([`status_for`]).
pub fn error(kind: &str, code: u32, message: &str) -> Response {
    error_body(code, json!({"message": message, "type": kind, "code": code}))
}

fn error_body(code: u32, e: Json) -> Response {
    (status_for(code), axum::Json(json!({"errors": [e]}))).into_response()
}

/// The UID of the sandbox's MSP user, who initiates every asynchronous action.
pub const MSP_USER_UID: &str = "5d0c3e7a-1f4b-4c2e-9a77-8b1f0e2d6c41";

fn unauthorized() -> Response {
    error("security", 401, "Authentication failed: the access token is missing, invalid or expired.")
}

fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    bearer(headers).is_some_and(|t| shared.token_valid(Vendor::Veeam, t))
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v3/token", post(token))
        .route("/api/v3/organizations/companies", get(list_companies).post(create_company))
        .route("/api/v3/organizations/companies/{uid}", get(get_company).patch(patch_company).delete(delete_company))
        .route("/api/v3/organizations/{uid}", axum::routing::patch(patch_organization))
        .route("/api/v3/organizations/resellers/{uid}/companies", axum::routing::delete(unassign_company))
        .route("/api/v3/asyncActions/{id}", get(get_action))
        .route("/api/v3/asyncActions/{id}/result", get(get_action_result))
        .route("/api/v3/pulse", get(pulse_config))
        .route("/api/v3/pulse/tenants", get(list_tenants).post(create_tenant))
        .route("/api/v3/pulse/tenants/{uid}", get(get_tenant))
        .route("/api/v3/pulse/monthlyUsages", get(monthly_usages))
        .with_state(shared)
}

async fn token(Ax(shared): Ax<Arc<Shared>>, axum::Form(form): axum::Form<BTreeMap<String, String>>) -> Response {
    let oauth_error = |code: &str, text: &str| {
        (StatusCode::BAD_REQUEST, axum::Json(json!({"error": code, "error_description": text, "error_uri": null})))
            .into_response()
    };
    let ok = match form.get("grant_type").map(String::as_str) {
        Some("password") => {
            form.get("username").map(String::as_str) == Some(credentials::VEEAM_USER)
                && form.get("password").map(String::as_str) == Some(credentials::VEEAM_PASSWORD)
        }
        Some("refresh_token") => {
            form.get("refresh_token").is_some_and(|t| shared.token_valid(Vendor::Veeam, &format!("refresh:{t}")))
        }
        Some(_) => return oauth_error("unsupported_grant_type", "The grant type is not supported."),
        None => return oauth_error("invalid_request", "grant_type is required."),
    };
    if !ok {
        return oauth_error("invalid_grant", "The user name or password is incorrect.");
    }
    let access = shared.issue_token(Vendor::Veeam, Duration::from_secs(3600));
    let refresh = uuid::Uuid::new_v4().simple().to_string();
    shared
        .tokens
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(format!("refresh:{refresh}"), (Vendor::Veeam, after(shared.now(), Duration::from_secs(86_400))));
    axum::Json(json!({"access_token": access, "token_type": "bearer", "refresh_token": refresh, "expires_in": 3600, "mfa_token": null, "encrypted_code": null}))
        .into_response()
}

#[derive(Deserialize, Default)]
struct ListQuery {
    limit: Option<String>,
    offset: Option<String>,
    filter: Option<String>,
}

/// The `offset`/`limit` page of `items` (see [`window`]), with the total of all of them.
fn page<T>(items: impl Iterator<Item = T>, q: &ListQuery, json: impl Fn(T) -> Json) -> Response {
    let limit: usize = match q.limit.as_deref().map(str::parse::<usize>) {
        None => 100,
        Some(Ok(l)) if (1..=500).contains(&l) => l,
        Some(_) => {
            return error("logical", 400, "The value of parameter 'limit' must be between 1 and 500.");
        }
    };
    let offset: usize = match q.offset.as_deref().map(str::parse::<usize>) {
        None => 0,
        Some(Ok(o)) => o,
        Some(Err(_)) => {
            return error("logical", 400, "The value of parameter 'offset' is not a number.");
        }
    };
    let (slice, total) = window(items, offset, limit, json);
    axum::Json(json!({"data": slice, "meta": {"pagingInfo": {"total": total, "count": slice.len(), "offset": offset}}, "errors": []})).into_response()
}

/// Apply a VSPC `filter` (`equals`, `notEquals`, optionally `ignorecase`) to a JSON object.
fn filter_matches(item: &Json, filter: &[Json]) -> bool {
    filter.iter().all(|f| {
        let prop = f.get("property").and_then(Json::as_str).unwrap_or_default();
        let op = f.get("operation").and_then(Json::as_str).unwrap_or("equals");
        let ignore_case = f.get("collation").and_then(Json::as_str) == Some("ignorecase");
        let want = f.get("value").cloned().unwrap_or(Json::Null);
        let have = prop.split('.').try_fold(item, |v, p| v.get(p)).cloned().unwrap_or(Json::Null);
        let eq = match (&have, &want) {
            (Json::String(a), Json::String(b)) if ignore_case => a.eq_ignore_ascii_case(b),
            (a, b) => a == b,
        };
        match op {
            "notEquals" => !eq,
            _ => eq,
        }
    })
}

fn parse_filter(q: &ListQuery) -> Result<Vec<Json>, Response> {
    match &q.filter {
        None => Ok(Vec::new()),
        Some(text) => match serde_json::from_str::<Json>(text) {
            Ok(Json::Array(a)) => Ok(a),
            _ => Err(error("logical", 400, "The filter parameter must be a JSON array of filter expressions.")),
        },
    }
}

async fn list_companies(Ax(shared): Ax<Arc<Shared>>, headers: HeaderMap, Query(q): Query<ListQuery>) -> Response {
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    let filter = match parse_filter(&q) {
        Ok(f) => f,
        Err(r) => return r,
    };
    shared.read(|w, _| {
        let matching =
            w.veeam.companies.values().filter(|c| filter.is_empty() || filter_matches(&c.to_json(), &filter));
        page(matching, &q, Company::to_json)
    })
}

/// Go asynchronous when the client sent `X-Request-id` (a UUID, as the document says): answer 202
/// with `Location`, and replay the same action for the same id within 5 minutes.
fn request_id(headers: &HeaderMap) -> Result<Option<String>, Response> {
    let Some(v) = headers.get("x-request-id") else { return Ok(None) };
    match v.to_str().ok().and_then(|s| uuid::Uuid::parse_str(s).ok()) {
        Some(id) => Ok(Some(id.to_string())),
        None => Err(error("logical", 400, "The X-Request-id header must be a UUID.")),
    }
}

fn accepted(base: &str, id: &str) -> Response {
    let mut r = StatusCode::ACCEPTED.into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&format!("{base}/api/v3/asyncActions/{id}")) {
        r.headers_mut().insert("location", v);
    }
    r
}

fn base_url(headers: &HeaderMap) -> String {
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    format!("http://{host}")
}

async fn create_company(Ax(shared): Ax<Arc<Shared>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    let Ok(input) = serde_json::from_slice::<Json>(&body) else {
        return error("logical", 400, "The request body is not valid JSON.");
    };
    let rid = match request_id(&headers) {
        Ok(rid) => rid,
        Err(r) => return r,
    };
    let base = base_url(&headers);
    shared.mutate(|w, now| {
        if let Some(id) = &rid
            && w.veeam.actions.contains_key(id)
        {
            return accepted(&base, id);
        }
        let org = input.get("organizationInput").and_then(Json::as_object).cloned().unwrap_or_default();
        let name = org.get("name").and_then(Json::as_str).unwrap_or_default().to_string();
        if name.trim().is_empty() {
            return property_error("organizationInput.name", "The Name field is required.");
        }
        let user = input.pointer("/ownerCredentials/userName").and_then(Json::as_str).unwrap_or_default().to_string();
        if user.trim().is_empty() {
            return property_error("ownerCredentials.userName", "The UserName field is required.");
        }
        if w.veeam.companies.values().any(|c| c.name().eq_ignore_ascii_case(&name)) {
            return error("logical", 1200, &format!("Company with the name '{name}' already exists."));
        }
        if w.veeam.companies.values().any(|c| c.owner_user_name.eq_ignore_ascii_case(&user)) {
            return error("logical", 1201, &format!("The user name '{user}' is already in use."));
        }
        let company = Company {
            instance_uid: uuid::Uuid::new_v4().to_string(),
            organization_uid: uuid::Uuid::new_v4().to_string(),
            status: "Active".into(),
            owner_user_name: user,
            reseller_uid: input.get("resellerUid").and_then(Json::as_str).map(str::to_string),
            is_rest_access_enabled: input.get("isRestAccessEnabled").and_then(Json::as_bool).unwrap_or(false),
            is_alarm_detect_enabled: input.get("isAlarmDetectEnabled").and_then(Json::as_bool).unwrap_or(false),
            organization: org,
        };
        let response = company.to_json();
        w.veeam.companies.insert(company.instance_uid.clone(), company);
        match rid {
            Some(id) => {
                w.veeam.actions.insert(
                    id.clone(),
                    AsyncAction {
                        id: id.clone(),
                        action_name: "CreateCompany".into(),
                        status: "running".into(),
                        query_parameters: json!({}),
                        // A nullable string in the document; the sandbox does not echo a body
                        // that holds the owner's password.
                        request_body: Json::Null,
                        result: envelope(response),
                        started: now,
                        due: after(now, Duration::from_millis(150)),
                    },
                );
                accepted(&base, &id)
            }
            None => axum::Json(envelope(response)).into_response(),
        }
    })
}

/// A validation error naming the property in its message (the document's `ResponseError` has no
/// property field).
fn property_error(property: &str, message: &str) -> Response {
    error("logical", 400, &format!("{message} (property: {property})"))
}

async fn get_company(Ax(shared): Ax<Arc<Shared>>, headers: HeaderMap, Path(uid): Path<String>) -> Response {
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    match shared.read(|w, _| w.veeam.companies.get(&uid).map(Company::to_json)) {
        Some(c) => axum::Json(envelope(c)).into_response(),
        None => error("logical", 404, &format!("Company with UID '{uid}' was not found.")),
    }
}

/// Apply JSON Patch operations to a JSON object; `test` failures report `failedJsonPatch`.
fn apply_patch(target: &mut Json, ops: &[Json]) -> Result<(), Response> {
    for op in ops {
        let kind = op.get("op").and_then(Json::as_str).unwrap_or_default();
        let path = op.get("path").and_then(Json::as_str).unwrap_or_default();
        let value = op.get("value").cloned().unwrap_or(Json::Null);
        // `failedJsonPatch` as in the document's own `ErrorResponse` example.
        let failed = |msg: &str| {
            error_body(
                1001,
                json!({"message": msg, "type": "logical", "code": 1001, "failedJsonPatch": {"op": kind, "path": path, "value": value}}),
            )
        };
        let Some(field) = path.strip_prefix('/').filter(|p| !p.is_empty() && !p.contains('/')) else {
            return Err(failed("The path of the patch operation is not supported."));
        };
        let Some(obj) = target.as_object_mut() else { return Err(failed("The target is not an object.")) };
        match kind {
            "replace" | "add" => {
                obj.insert(field.to_string(), value.clone());
            }
            "remove" => {
                obj.remove(field);
            }
            "test" => {
                if obj.get(field) != Some(&value) {
                    return Err(failed(&format!("The value of '{path}' does not match the test value.")));
                }
            }
            _ => return Err(failed(&format!("The patch operation '{kind}' is not supported here."))),
        }
    }
    Ok(())
}

fn patch_ops(body: &[u8]) -> Result<Vec<Json>, Response> {
    match serde_json::from_slice::<Json>(body) {
        Ok(Json::Array(ops)) => Ok(ops),
        _ => Err(error("logical", 400, "The request body must be a JSON Patch array.")),
    }
}

async fn patch_company(
    Ax(shared): Ax<Arc<Shared>>,
    headers: HeaderMap,
    Path(uid): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    let ops = match patch_ops(&body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    shared.mutate(|w, _| {
        let Some(c) = w.veeam.companies.get_mut(&uid) else {
            return error("logical", 404, &format!("Company with UID '{uid}' was not found."));
        };
        let mut view = json!({"status": c.status, "isRestAccessEnabled": c.is_rest_access_enabled, "isAlarmDetectEnabled": c.is_alarm_detect_enabled});
        if let Err(r) = apply_patch(&mut view, &ops) {
            return r;
        }
        match view["status"].as_str() {
            Some(s @ ("Active" | "Disabled")) => c.status = s.to_string(),
            _ => return error("logical", 400, "Only Active or Disabled can be set as a company status."),
        }
        c.is_rest_access_enabled = view["isRestAccessEnabled"].as_bool().unwrap_or(false);
        c.is_alarm_detect_enabled = view["isAlarmDetectEnabled"].as_bool().unwrap_or(false);
        axum::Json(envelope(c.to_json())).into_response()
    })
}

async fn patch_organization(
    Ax(shared): Ax<Arc<Shared>>,
    headers: HeaderMap,
    Path(uid): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    let ops = match patch_ops(&body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    shared.mutate(|w, _| {
        let Some(c) = w.veeam.companies.values_mut().find(|c| c.organization_uid == uid) else {
            return error("logical", 404, &format!("Organization with UID '{uid}' was not found."));
        };
        let mut org = Json::Object(c.organization.clone());
        if let Err(r) = apply_patch(&mut org, &ops) {
            return r;
        }
        c.organization = org.as_object().cloned().unwrap_or_default();
        let mut out = c.organization.clone();
        out.insert("instanceUid".into(), json!(c.organization_uid));
        axum::Json(envelope(Json::Object(out))).into_response()
    })
}

#[derive(Deserialize)]
struct DeleteQuery {
    #[serde(rename = "removeAllAgents")]
    remove_all_agents: Option<String>,
}

async fn delete_company(
    Ax(shared): Ax<Arc<Shared>>,
    headers: HeaderMap,
    Path(uid): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> Response {
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    if q.remove_all_agents.is_none() {
        return error("logical", 400, "The parameter 'removeAllAgents' is required.");
    }
    shared.mutate(|w, _| match w.veeam.companies.remove(&uid) {
        Some(_) => {
            w.veeam.pulse_tenants.retain(|_, t| t.mapped_master_organization_uid != uid);
            // `EmptyResponse`: `errors` only.
            axum::Json(json!({"errors": []})).into_response()
        }
        None => error("logical", 404, &format!("Company with UID '{uid}' was not found.")),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CompanyQuery {
    company_uid: Option<String>,
}

/// `DELETE /organizations/resellers/{resellerUid}/companies?companyUid=` (VSPC 3.7, "Unassign
/// Company from Reseller"): the MSP manages the company directly again.
async fn unassign_company(
    Ax(shared): Ax<Arc<Shared>>,
    headers: HeaderMap,
    Path(reseller): Path<String>,
    Query(q): Query<CompanyQuery>,
) -> Response {
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    let Some(uid) = q.company_uid else {
        return error("logical", 400, "The parameter 'companyUid' is required.");
    };
    shared.mutate(|w, _| match w.veeam.companies.get_mut(&uid) {
        Some(c) if c.reseller_uid.as_deref() == Some(reseller.as_str()) => {
            c.reseller_uid = None;
            axum::Json(json!({"errors": []})).into_response()
        }
        Some(_) => {
            error("logical", 400, &format!("Company with UID '{uid}' is not assigned to reseller '{reseller}'."))
        }
        None => error("logical", 404, &format!("Company with UID '{uid}' was not found.")),
    })
}

async fn get_action(Ax(shared): Ax<Arc<Shared>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    match shared.read(|w, _| w.veeam.actions.get(&id).cloned()) {
        Some(a) => axum::Json(envelope(json!({
            "id": a.id, "initiatorUid": MSP_USER_UID, "actionName": a.action_name, "status": a.status,
            "queryParameters": a.query_parameters, "requestBody": a.request_body,
        })))
        .into_response(),
        None => error("logical", 404, &format!("Async action '{id}' was not found.")),
    }
}

async fn get_action_result(Ax(shared): Ax<Arc<Shared>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    match shared.read(|w, _| w.veeam.actions.get(&id).cloned()) {
        Some(a) if a.status == "running" => error("retryableLogical", 1500, "The action is still running."),
        Some(a) => axum::Json(a.result).into_response(),
        None => error("logical", 404, &format!("Async action '{id}' was not found.")),
    }
}

async fn pulse_config(Ax(shared): Ax<Arc<Shared>>, headers: HeaderMap) -> Response {
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    let (status, now) = shared.read(|w, now| (w.veeam.pulse_status.clone(), now));
    axum::Json(envelope(json!({
        "isCompanyMappingEnabled": true, "isLicenseManagementEnabled": true, "isPushingNewCompaniesToPulseEnabled": false,
        "token": null, "status": status, "statusMessage": "", "lastUpdateDate": now.to_string(),
        "tokenExpirationDate": after(now, Duration::from_secs(150 * 86_400)).to_string(),
    })))
    .into_response()
}

async fn list_tenants(Ax(shared): Ax<Arc<Shared>>, headers: HeaderMap, Query(q): Query<ListQuery>) -> Response {
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    shared.read(|w, _| page(w.veeam.pulse_tenants.values(), &q, PulseTenant::to_json))
}

async fn get_tenant(Ax(shared): Ax<Arc<Shared>>, headers: HeaderMap, Path(uid): Path<String>) -> Response {
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    match shared.read(|w, _| w.veeam.pulse_tenants.get(&uid).map(PulseTenant::to_json)) {
        Some(t) => axum::Json(envelope(t)).into_response(),
        None => error("logical", 404, &format!("Pulse tenant '{uid}' was not found.")),
    }
}

#[derive(Deserialize)]
struct CreateTenantQuery {
    #[serde(rename = "companyUid")]
    company_uid: Option<String>,
    #[serde(rename = "rewriteExisting")]
    rewrite_existing: Option<String>,
}

async fn create_tenant(
    Ax(shared): Ax<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<CreateTenantQuery>,
) -> Response {
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    let Some(company_uid) = q.company_uid else {
        return error("logical", 400, "The parameter 'companyUid' is required.");
    };
    let rewrite = q.rewrite_existing.as_deref() == Some("true");
    let rid = match request_id(&headers) {
        Ok(rid) => rid,
        Err(r) => return r,
    };
    let base = base_url(&headers);
    let delay = shared.opts.pulse_delay;
    shared.mutate(|w, now| {
        if let Some(id) = &rid
            && w.veeam.actions.contains_key(id)
        {
            return accepted(&base, id);
        }
        if w.veeam.pulse_status != "Configured" {
            return error("logical", 1300, "VCSP Pulse is not configured.");
        }
        let Some(company) = w.veeam.companies.get(&company_uid).cloned() else {
            return error("logical",
                404,
                &format!("Company with UID '{company_uid}' was not found."),
            );
        };
        if !rewrite && w.veeam.pulse_tenants.values().any(|t| t.mapped_master_organization_uid == company_uid) {
            return error("logical",
                1301,
                "The company is already mapped to a VCSP Pulse tenant.",
            );
        }
        let fail = std::mem::take(&mut w.veeam.fail_next_mapping);
        let tenant = PulseTenant {
            instance_uid: uuid::Uuid::new_v4().to_string(),
            name: company.name().to_string(),
            mapping_status: "MappingInProggress".into(),
            mapping_status_message: Some("Waiting for the customer to be verified in VCSP Pulse.".into()),
            mapped_master_organization_uid: company_uid.clone(),
            due: Some(after(now, delay)),
            fail,
        };
        w.veeam.portal.insert(
            tenant.instance_uid.clone(),
            PortalCustomer {
                name: company.name().to_string(),
                customer_type: "End Customer".into(),
                status: "Pending verification".into(),
                vdc_registered: false,
                vdc_request: None,
                active_at: (!fail).then(|| after(now, delay)),
                vdc_usage_from: None,
                vdc_usage_until: None,
            },
        );
        let response = envelope(tenant.to_json());
        w.veeam.pulse_tenants.insert(tenant.instance_uid.clone(), tenant);
        match rid {
            Some(id) => {
                w.veeam.actions.insert(
                    id.clone(),
                    AsyncAction {
                        id: id.clone(),
                        action_name: "CreatePulseTenant".into(),
                        status: "running".into(),
                        query_parameters: json!({"companyUid": [company_uid], "rewriteExisting": [rewrite.to_string()]}),
                        request_body: Json::Null,
                        result: response,
                        started: now,
                        due: after(now, Duration::from_millis(150)),
                    },
                );
                accepted(&base, &id)
            }
            None => axum::Json(response).into_response(),
        }
    })
}

#[derive(Deserialize, Default)]
struct UsageQuery {
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

/// `GET /pulse/monthlyUsages` (VSPC 3.7, `GetPulseVdcMonthlyUsages`): one
/// `PulseVdcMonthlyUsagePeriod {month, tenants: [PulseTenantVdcUsage {tenantUid, workloads}]}` per
/// reporting month, paged. The sandbox reports the current month only; a tenant appears once it
/// is VDC registered and has protected something (providers.md 1.5: "a tenant with VDC
/// workloads is registered; one without may or may not be").
async fn monthly_usages(Ax(shared): Ax<Arc<Shared>>, headers: HeaderMap, Query(q): Query<UsageQuery>) -> Response {
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    let month_ok = |m: &Option<String>| {
        m.as_deref().is_none_or(|m| {
            let b = m.as_bytes();
            b.len() == 7
                && b[4] == b'-'
                && b[..4].iter().chain(&b[5..]).all(u8::is_ascii_digit)
                && matches!(&m[5..], "01" | "02" | "03" | "04" | "05" | "06" | "07" | "08" | "09" | "10" | "11" | "12")
        })
    };
    if !month_ok(&q.from) || !month_ok(&q.to) {
        return error("logical", 400, "The months 'from' and 'to' must be in the yyyy-MM format.");
    }
    let users = shared.opts.tenant_users;
    let month_of = |t: Timestamp| t.strftime("%Y-%m").to_string();
    let periods = shared.read(|w, now| {
        // Every month in which some tenant had VDC usage, oldest first: from its first backup
        // to the month its protection stopped (or this month).
        let mut months: BTreeMap<String, Vec<Json>> = BTreeMap::new();
        for (uid, c) in &w.veeam.portal {
            let Some(from) = c.vdc_usage_from.filter(|t| *t <= now) else { continue };
            let until = match c.vdc_usage_until {
                Some(u) => u.min(now),
                None if c.vdc_registered => now,
                None => continue,
            };
            let (first, last) = (month_of(from), month_of(until));
            let mut day = from.to_zoned(jiff::tz::TimeZone::UTC).date().first_of_month();
            loop {
                let month = day.strftime("%Y-%m").to_string();
                if month > last {
                    break;
                }
                if month >= first {
                    months.entry(month).or_default().push(json!({"tenantUid": uid, "workloads": [{
                        "productCode": "H-VDCMFE-0U-R0000-00",
                        "productName": "Veeam Data Cloud for Microsoft 365 Advanced Bundle including Entra ID",
                        "unitType": "User", "usedUnits": users, "totalUnits": users, "weight": 3,
                        "usedPoints": users * 3, "minCommitQty": 0, "minCommitEnforcement": 0, "location": "",
                    }]}));
                }
                match day.checked_add(jiff::Span::new().months(1)) {
                    Ok(next) => day = next,
                    Err(_) => break,
                }
            }
        }
        months
            .into_iter()
            .filter(|(m, _)| {
                q.from.as_deref().is_none_or(|f| f <= m.as_str()) && q.to.as_deref().is_none_or(|t| t >= m.as_str())
            })
            .map(|(month, tenants)| json!({"month": month, "tenants": tenants}))
            .collect::<Vec<_>>()
    });
    page(periods.into_iter(), &ListQuery { limit: q.limit, offset: q.offset, filter: None }, |p| p)
}

/// The VCSP Pulse portal's "Register your Customer for VDC", with its preconditions. Returns
/// the refusal in words when a precondition fails.
pub fn register_for_vdc(w: &mut World, values: &Json, now: Timestamp, opts: &Options) -> Result<String, String> {
    let name = values.get("customerName").and_then(Json::as_str).unwrap_or_default();
    let Some((_, customer)) = w.veeam.portal.iter_mut().find(|(_, c)| c.name.eq_ignore_ascii_case(name)) else {
        return Err(format!("no customer named '{name}' in VCSP Pulse"));
    };
    if customer.customer_type != "End Customer" {
        return Err(format!("'{name}' is a {}, not an End Customer", customer.customer_type));
    }
    if customer.status != "Active" {
        return Err(format!("'{name}' is not Active in VCSP Pulse (status: {})", customer.status));
    }
    if customer.vdc_registered {
        return Err(format!("'{name}' is already VDC Registered"));
    }
    let admin = values.get("vdcPrimaryAdministrator").and_then(Json::as_str).unwrap_or_default();
    if admin == "Customer Managed" && values.get("adminEmail").and_then(Json::as_str).is_none_or(|e| !e.contains('@')) {
        return Err("a Customer Managed VDC needs the administrator's Microsoft 365 e-mail".into());
    }
    customer.vdc_registered = true;
    customer.vdc_request = Some(values.clone());
    // The simulated customer protects its users at once (none with `--no-customers`): VDC
    // usage shows from then on.
    customer.vdc_usage_from = opts.customers.then_some(now);
    customer.vdc_usage_until = None;
    Ok(format!("'{name}' registered for VDC ({admin})"))
}

/// The fields of the VDC registration form a later change may set (providers.md 1.8: provider-
/// vs customer-managed onboarding toggles "Delegated management by partner" and is reversible).
const VDC_ADMIN_FIELDS: &[&str] = &["vdcPrimaryAdministrator", "adminFirstName", "adminLastName", "adminEmail"];

/// A registered customer's VDC primary administrator changed in the portal: Partner Managed
/// and Customer Managed (the "Delegated management by partner" toggle), and the administrator
/// contact.
pub fn change_vdc_admin(w: &mut World, values: &Json, target: Option<&str>) -> Result<String, String> {
    let name = values.get("customerName").and_then(Json::as_str).unwrap_or_default();
    let Some(customer) = w
        .veeam
        .portal
        .iter_mut()
        .find(|(uid, c)| Some(uid.as_str()) == target || (!name.is_empty() && c.name.eq_ignore_ascii_case(name)))
        .map(|(_, c)| c)
    else {
        return Err(format!("no such customer in VCSP Pulse ({})", target.unwrap_or(name)));
    };
    let name = customer.name.clone();
    if !customer.vdc_registered {
        return Err(format!("'{name}' is not VDC Registered"));
    }
    let mut request = customer.vdc_request.clone().unwrap_or_else(|| json!({}));
    for f in VDC_ADMIN_FIELDS {
        if let Some(v) = values.get(*f) {
            request[*f] = v.clone();
        }
    }
    let admin = request.get("vdcPrimaryAdministrator").and_then(Json::as_str).unwrap_or_default().to_string();
    if admin == "Customer Managed" && request.get("adminEmail").and_then(Json::as_str).is_none_or(|e| !e.contains('@'))
    {
        return Err("a Customer Managed VDC needs the administrator's Microsoft 365 e-mail".into());
    }
    customer.vdc_request = Some(request);
    Ok(format!("'{name}': VDC primary administrator is now {admin}"))
}
