//! AvePoint Elements partner API v3 (`/partner/external/v3/general`) on the graph host, the
//! identity host's token endpoint, and the Elements portal steps with no API. Follows
//! providers.md section 6 and AvePoint's cloud-api docs: client-credentials tokens with scopes
//! (a missing scope answers 403), business outcomes as `status` codes on HTTP 200 (onboarding:
//! 1 ok, 5 already managed by this partner, 7 already exists; services: 1, 3 no partner pool,
//! 4 seats insufficient, 7/12 duplicates), batch lists with `pageIndex`/`pageSize` (at most
//! 100), services drawing seats from the partner's pools, and authorization links that expire
//! (72 hours) and that the simulated customer follows.

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

const BASE: &str = "/partner/external/v3/general";

/// Data centers the onboarding API accepts (the published ids).
pub const DATA_CENTERS: &[&str] = &[
    "f1cdd2b2-ac32-4509-8784-fb2b947ef519",
    "4f93bdff-9b11-47b9-aa68-a86bfa09f61c",
    "d95b9c82-a426-400f-8256-70646fdd1b4f",
    "3225f6f8-a98c-425e-8279-c6696d99659d",
];

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    pub customers: BTreeMap<String, Customer>,
    /// Seats left in the partner's pools, by licence resource.
    pub pools: BTreeMap<String, i64>,
    pub links: BTreeMap<String, Link>,
    /// Customers of other partners (onboarding them answers status 7).
    pub foreign_emails: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    pub id: String,
    pub organization: String,
    pub owner_email: String,
    pub first_name: String,
    pub last_name: String,
    pub country: String,
    pub data_center: String,
    pub telephone: Option<String>,
    pub tags: Vec<String>,
    /// 0 customer management, 1 partner management, 2 to be configured.
    pub management_mode: u8,
    /// 0 N/A, 1 Working, 3 Waiting for configuration.
    pub job_status: u8,
    pub tenants: Vec<Json>,
    pub services: Vec<Json>,
    pub portal: BTreeMap<String, Json>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    pub id: String,
    pub customer_id: String,
    pub tenant: String,
    pub created: Timestamp,
    pub expires: Timestamp,
    pub consent_at: Option<Timestamp>,
    pub used: bool,
    /// The environment the link's body named (providers.md 6.2, auth-link bodies), which the
    /// tenant consented through it then reports (`GET /customers/{id}/tenants/{tenantId}`).
    #[serde(default)]
    pub aad_environment: u64,
    /// `platformEnvironmentType` of a consent-apps link; an add-tenant link names none: 0 (None).
    #[serde(default)]
    pub platform_environment_type: u64,
}

impl State {
    pub fn seeded() -> Self {
        State {
            pools: [
                ("Office365Backup", 500),
                ("PartnerTenantSettingManagement", 100),
                ("PartnerWorkspaceOnboarding", 100),
                ("PartnerUserManagement", 100),
                ("PartnerStorageOptimization", 100),
                ("GoogleWorkspaceBackup", 500),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
            foreign_emails: vec!["admin@taken-by-another-partner.example".into()],
            ..State::default()
        }
    }

    pub fn dump(&self) -> Json {
        Json::Array(self.customers.values().map(|c| json!({"type": "customer", "customer": c})).collect())
    }
}

const JOB_LABELS: &[&str] = &["N/A", "Working", "Failed", "Waiting for configuration"];

fn customer_json(c: &Customer, label: bool) -> Json {
    json!({
        "id": c.id, "organization": c.organization, "ownerEmail": c.owner_email,
        "jobStatus": if label { json!(JOB_LABELS.get(c.job_status as usize).copied().unwrap_or("N/A")) } else { json!(c.job_status) },
        "countryOrRegion": c.country, "managementMode": c.management_mode,
        // A customer lists its tenants as `{id, name}` (providers.md 6.2); the environment only
        // the tenant read reports.
        "tenants": c.tenants.iter().map(|t| json!({"id": t["id"], "name": t["name"]})).collect::<Vec<_>>(),
    })
}

pub fn settle(w: &mut World, now: Timestamp, _opts: &Options) {
    let s = &mut w.avepoint;
    for link in s.links.values_mut() {
        if link.used || link.consent_at.is_none_or(|t| t > now) {
            continue;
        }
        link.consent_at = None;
        if now > link.expires {
            continue; // the customer came back after the link had expired
        }
        link.used = true;
        let Some(c) = s.customers.get_mut(&link.customer_id) else { continue };
        let env = (json!(link.aad_environment), json!(link.platform_environment_type));
        match c.tenants.iter_mut().find(|t| t.get("name").and_then(Json::as_str) == Some(link.tenant.as_str())) {
            // Consenting again (a re-authorization) through a link of another environment.
            Some(t) => {
                t["aadEnvironment"] = env.0;
                t["platformEnvironmentType"] = env.1;
            }
            None => {
                c.tenants.push(json!({
                    "id": uuid::Uuid::new_v4().to_string(), "name": link.tenant,
                    "aadEnvironment": env.0, "platformEnvironmentType": env.1,
                }));
                c.job_status = 1;
            }
        }
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"message": message}))).into_response()
}

/// A live token carrying `scope` (a readwrite scope covers its read scope).
fn gate(shared: &Shared, h: &HeaderMap, scope: &str) -> Result<(), Response> {
    let Some(token) = bearer(h).filter(|t| shared.token_valid(Vendor::Avepoint, t)) else {
        return Err(error(StatusCode::UNAUTHORIZED, "Unauthorized"));
    };
    let wider = scope.replace(".read.all", ".readwrite.all");
    if !token_scopes(shared, token).iter().any(|s| s == scope || *s == wider) {
        return Err(error(StatusCode::FORBIDDEN, &format!("The token lacks the scope {scope}")));
    }
    Ok(())
}

fn token_scopes(shared: &Shared, token: &str) -> Vec<String> {
    let tokens = shared.tokens.lock().unwrap_or_else(|p| p.into_inner());
    tokens.keys().filter_map(|k| k.strip_prefix(&format!("scope:{token}:"))).map(str::to_string).collect()
}

pub fn identity_router(shared: Arc<Shared>) -> Router {
    Router::new().route("/connect/token", post(token)).with_state(shared)
}

async fn token(Ax(shared): Ax<Arc<Shared>>, axum::Form(form): axum::Form<BTreeMap<String, String>>) -> Response {
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "unsupported_grant_type"}))).into_response();
    }
    if form.get("client_id").map(String::as_str) != Some(credentials::AVEPOINT_CLIENT)
        || form.get("client_secret").map(String::as_str) != Some(credentials::AVEPOINT_SECRET)
    {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "invalid_client"}))).into_response();
    }
    const KNOWN: &[&str] = &[
        "elements.customers.read.all",
        "elements.customers.readwrite.all",
        "elements.license.read.all",
        "elements.license.readwrite.all",
    ];
    let requested: Vec<String> =
        form.get("scope").map(|s| s.split_whitespace().map(str::to_string).collect()).unwrap_or_default();
    if let Some(bad) = requested.iter().find(|s| !KNOWN.contains(&s.as_str())) {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_scope", "error_description": format!("unknown scope {bad}")})),
        )
            .into_response();
    }
    let t = shared.issue_token(Vendor::Avepoint, Duration::from_secs(3600));
    let expires = after(shared.now(), Duration::from_secs(3600));
    {
        let mut tokens = shared.tokens.lock().unwrap_or_else(|p| p.into_inner());
        for s in &requested {
            tokens.insert(format!("scope:{t}:{s}"), (Vendor::Avepoint, expires));
        }
    }
    axum::Json(json!({"access_token": t, "expires_in": 3600, "token_type": "Bearer", "scope": requested.join(" ")}))
        .into_response()
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(&format!("{BASE}/customers"), post(onboard))
        .route(&format!("{BASE}/customers/batch"), post(list_customers))
        .route(&format!("{BASE}/customers/{{id}}"), get(get_customer))
        .route(&format!("{BASE}/customers/{{id}}/services"), post(add_service))
        .route(&format!("{BASE}/customers/services/batch"), post(list_services))
        .route(&format!("{BASE}/customers/{{id}}/tenants/{{tenant}}"), get(tenant_info))
        .route(&format!("{BASE}/customers/{{id}}/tenants/{{tenant}}/auth-link"), post(tenant_link))
        .route(&format!("{BASE}/customers/{{id}}/tenants/{{tenant}}/apps/auth-link"), post(apps_link))
        .route(&format!("{BASE}/customers/{{id}}/tenants/{{tenant}}/product/{{product}}/apps"), get(consent_status))
        .with_state(shared)
}

async fn onboard(Ax(shared): Ax<Arc<Shared>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if let Err(r) = gate(&shared, &headers, "elements.customers.readwrite.all") {
        return r;
    }
    let Ok(b) = serde_json::from_slice::<Json>(&body) else {
        return error(StatusCode::BAD_REQUEST, "The request body is not valid JSON.");
    };
    let text = |k: &str| b.get(k).and_then(Json::as_str).unwrap_or_default().to_string();
    for k in
        ["firstName", "lastName", "organizationName", "registrationAccount", "password", "countryCode", "dataCenter"]
    {
        if text(k).trim().is_empty() {
            return error(StatusCode::BAD_REQUEST, &format!("The {k} field is required."));
        }
    }
    if text("countryCode").len() != 2 {
        return error(StatusCode::BAD_REQUEST, "countryCode must be a 2-letter code.");
    }
    if !DATA_CENTERS.contains(&text("dataCenter").as_str()) {
        return error(StatusCode::BAD_REQUEST, "dataCenter is not a known data center.");
    }
    shared.mutate(|w, _| {
        let email = text("registrationAccount");
        if w.avepoint.foreign_emails.iter().any(|e| e.eq_ignore_ascii_case(&email)) {
            return axum::Json(json!({"id": null, "status": 7})).into_response();
        }
        if let Some(c) = w.avepoint.customers.values().find(|c| c.owner_email.eq_ignore_ascii_case(&email)) {
            return axum::Json(json!({"id": c.id, "status": 5})).into_response();
        }
        let mode = match b.get("managementMode").and_then(Json::as_bool) {
            Some(true) => 1,
            Some(false) => 0,
            None => 2,
        };
        let c = Customer {
            id: uuid::Uuid::new_v4().to_string(),
            organization: text("organizationName"),
            owner_email: email,
            first_name: text("firstName"),
            last_name: text("lastName"),
            country: text("countryCode"),
            data_center: text("dataCenter"),
            telephone: b.get("telephoneNumber").and_then(Json::as_str).map(str::to_string),
            tags: b
                .get("tags")
                .and_then(Json::as_array)
                .map(|a| a.iter().filter_map(Json::as_str).map(str::to_string).collect())
                .unwrap_or_default(),
            management_mode: mode,
            job_status: 3,
            tenants: Vec::new(),
            services: Vec::new(),
            portal: BTreeMap::new(),
        };
        let id = c.id.clone();
        w.avepoint.customers.insert(id.clone(), c);
        axum::Json(json!({"id": id, "status": 1})).into_response()
    })
}

#[derive(Deserialize)]
struct PageQuery {
    #[serde(rename = "pageIndex")]
    page_index: Option<usize>,
    #[serde(rename = "pageSize")]
    page_size: Option<usize>,
}

/// The `pageIndex`/`pageSize` page of `items` (see [`window`]), with the total of all of them.
fn page<T>(items: impl Iterator<Item = T>, q: &PageQuery, json: impl Fn(T) -> Json) -> Result<Json, Response> {
    let size = q.page_size.unwrap_or(50);
    if size == 0 || size > 100 {
        return Err(error(StatusCode::BAD_REQUEST, "pageSize must be between 1 and 100."));
    }
    let index = q.page_index.unwrap_or(1).max(1);
    let (slice, total) = window(items, (index - 1).saturating_mul(size), size, json);
    Ok(json!({"data": slice, "metadata": {"pageIndex": index, "pageSize": size, "totalCount": total}}))
}

fn filter_id(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<Json>(body).ok()?.get("customerId")?.as_str().map(str::to_string)
}

async fn list_customers(
    Ax(shared): Ax<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = gate(&shared, &headers, "elements.customers.read.all") {
        return r;
    }
    let only = filter_id(&body);
    let listed = shared.read(|w, _| {
        let matching = w.avepoint.customers.values().filter(|c| only.as_ref().is_none_or(|id| &c.id == id));
        page(matching, &q, |c| customer_json(c, false))
    });
    match listed {
        Ok(j) => axum::Json(j).into_response(),
        Err(r) => r,
    }
}

async fn get_customer(Ax(shared): Ax<Arc<Shared>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = gate(&shared, &headers, "elements.customers.read.all") {
        return r;
    }
    match shared.read(|w, _| w.avepoint.customers.get(&id).map(|c| customer_json(c, true))) {
        Some(c) => axum::Json(json!({"data": [c]})).into_response(),
        None => error(StatusCode::NOT_FOUND, &format!("Customer {id} was not found.")),
    }
}

fn service_name(code: u64) -> Option<&'static str> {
    Some(match code {
        2048 => "Cloud Backup for Microsoft 365",
        274 => "Cloud Backup Express",
        40 => "Baseline management",
        42 => "Workspace management",
        49 => "User and device management",
        65 => "Workspace management - storage optimization",
        _ => return None,
    })
}

async fn add_service(
    Ax(shared): Ax<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = gate(&shared, &headers, "elements.license.readwrite.all") {
        return r;
    }
    let Ok(b) = serde_json::from_slice::<Json>(&body) else {
        return error(StatusCode::BAD_REQUEST, "The request body is not valid JSON.");
    };
    let Some(code) = b.get("product").and_then(Json::as_u64) else {
        return error(StatusCode::BAD_REQUEST, "The product field is required.");
    };
    let Some(name) = service_name(code) else {
        return error(StatusCode::BAD_REQUEST, &format!("Unknown product {code}."));
    };
    let Some(license) = b.get("licenseType").and_then(Json::as_u64) else {
        return error(StatusCode::BAD_REQUEST, "The licenseType field is required.");
    };
    if code == 2048
        && b.get("byos").and_then(Json::as_bool) != Some(true)
        && (b.get("avepointStorageType").is_none() || b.get("retentionYear").is_none())
    {
        return error(
            StatusCode::BAD_REQUEST,
            "Either avepointStorageType and retentionYear, or byos, must be provided.",
        );
    }
    let status = |s: u8| axum::Json(json!({"customerId": id, "product": code, "status": s})).into_response();
    shared.mutate(|w, now| {
        let pools = w.avepoint.pools.clone();
        let Some(c) = w.avepoint.customers.get_mut(&id) else { return error(StatusCode::NOT_FOUND, &format!("Customer {id} was not found.")) };
        if let Some(existing) = c.services.iter().find(|s| s.get("service").and_then(Json::as_str) == Some(name)) {
            let same = existing.get("licenseType").and_then(Json::as_u64) == Some(license);
            return status(if same { 12 } else { 7 });
        }
        let mut taken = Vec::new();
        if license == 1 {
            let items = b.get("licenseItems").and_then(Json::as_array).cloned().unwrap_or_default();
            if items.is_empty() {
                return error(StatusCode::BAD_REQUEST, "licenseItems is required for a pooled (enterprise) subscription.");
            }
            for item in &items {
                let resource = item.get("resource").and_then(Json::as_str).unwrap_or_default().to_string();
                let seats = item.get("userSeat").and_then(Json::as_i64).unwrap_or(0);
                if let Some(exp) = item.get("expireTime").and_then(Json::as_str).and_then(|t| t.parse::<Timestamp>().ok()) {
                    if exp < now {
                        return status(11);
                    }
                    if exp < after(now, Duration::from_secs(30 * 86_400)) {
                        return status(18);
                    }
                }
                match pools.get(&resource) {
                    None => return status(3),
                    Some(left) if *left < seats => return status(4),
                    Some(_) => taken.push((resource, seats)),
                }
            }
        }
        for (resource, seats) in taken {
            *w.avepoint.pools.entry(resource).or_default() -= seats;
        }
        let c = w.avepoint.customers.get_mut(&id).expect("present");
        let seats: i64 = b.pointer("/licenseItems/0/userSeat").and_then(Json::as_i64).unwrap_or(0);
        c.services.push(json!({
            "service": name, "licenseType": license, "subscriptionModel": if license == 1 { "Enterprise" } else { "Trial" },
            "purchasedUserSeats": if license == 1 { seats.to_string() } else { "N/A".to_string() },
            "retention": b.get("retentionYear").map(|y| format!("{y} year(s)")).unwrap_or_else(|| "N/A".into()),
            "source": if license == 1 { "AvePoint pooled subscription" } else { "AvePoint subscription" },
            "expirationDate": after(now, Duration::from_secs(365 * 86_400)).to_string(),
        }));
        status(1)
    })
}

async fn list_services(
    Ax(shared): Ax<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = gate(&shared, &headers, "elements.license.read.all") {
        return r;
    }
    let only = filter_id(&body);
    let listed = shared.read(|w, _| {
        let matching = w.avepoint.customers.values().filter(|c| only.as_ref().is_none_or(|id| &c.id == id));
        page(matching, &q, |c| {
            // `licenseType` is the sandbox's own bookkeeping: not part of the documented answer.
            let products: Vec<Json> = c
                .services
                .iter()
                .map(|s| {
                    let mut s = s.clone();
                    if let Some(o) = s.as_object_mut() {
                        o.remove("licenseType");
                    }
                    s
                })
                .collect();
            json!({"customerId": c.id, "organization": c.organization, "customer": c.owner_email, "products": products})
        })
    });
    match listed {
        Ok(j) => axum::Json(j).into_response(),
        Err(r) => r,
    }
}

async fn tenant_info(
    Ax(shared): Ax<Arc<Shared>>,
    headers: HeaderMap,
    Path((id, tenant)): Path<(String, String)>,
) -> Response {
    if let Err(r) = gate(&shared, &headers, "elements.customers.read.all") {
        return r;
    }
    let found = shared.read(|w, _| {
        w.avepoint.customers.get(&id).and_then(|c| {
            c.tenants
                .iter()
                .find(|t| {
                    t.get("name").and_then(Json::as_str) == Some(tenant.as_str())
                        || t.get("id").and_then(Json::as_str) == Some(tenant.as_str())
                })
                .cloned()
        })
    });
    match found {
        // What the tenant was consented with (a tenant added before the environment was kept:
        // AzureCloud, no platform).
        Some(t) => axum::Json(json!({
            "id": t["id"], "name": t["name"],
            "aadEnvironment": t.get("aadEnvironment").and_then(Json::as_u64).unwrap_or(0),
            "platformEnvironmentType": t.get("platformEnvironmentType").and_then(Json::as_u64).unwrap_or(0),
        }))
        .into_response(),
        None => error(StatusCode::NOT_FOUND, &format!("Tenant {tenant} was not found for customer {id}.")),
    }
}

fn issue_link(shared: &Shared, id: &str, tenant: &str, body: &Json) -> Response {
    let opts = shared.opts.clone();
    shared.mutate(|w, now| {
        if !w.avepoint.customers.contains_key(id) {
            return error(StatusCode::NOT_FOUND, &format!("Customer {id} was not found."));
        }
        let link = Link {
            id: uuid::Uuid::new_v4().to_string(),
            customer_id: id.to_string(),
            tenant: tenant.to_string(),
            created: now,
            expires: after(now, opts.link_ttl),
            consent_at: opts.customers.then(|| after(now, opts.customer_delay)),
            used: false,
            aad_environment: body.get("aadEnvironment").and_then(Json::as_u64).unwrap_or(0),
            platform_environment_type: body.get("platformEnvironmentType").and_then(Json::as_u64).unwrap_or(0),
        };
        let out = json!({
            "id": link.id,
            "url": format!("https://partner.avepointonlineservices.com/app/CustomerAppAuthorizationLink?linkId={}&tenantId={}", link.id, tenant),
        });
        w.avepoint.links.insert(link.id.clone(), link);
        axum::Json(out).into_response()
    })
}

async fn tenant_link(
    Ax(shared): Ax<Arc<Shared>>,
    headers: HeaderMap,
    Path((id, tenant)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = gate(&shared, &headers, "elements.customers.readwrite.all") {
        return r;
    }
    let Ok(b) = serde_json::from_slice::<Json>(&body) else {
        return error(StatusCode::BAD_REQUEST, "The request body is not valid JSON.");
    };
    if b.get("aadEnvironment").and_then(Json::as_u64).is_none_or(|e| ![0, 2, 4, 5].contains(&e)) {
        return error(StatusCode::BAD_REQUEST, "aadEnvironment is required (0, 2, 4 or 5).");
    }
    if b.get("tenantFriendlyName").and_then(Json::as_str).is_none_or(str::is_empty) {
        return error(StatusCode::BAD_REQUEST, "tenantFriendlyName is required.");
    }
    issue_link(&shared, &id, &tenant, &b)
}

async fn apps_link(
    Ax(shared): Ax<Arc<Shared>>,
    headers: HeaderMap,
    Path((id, tenant)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = gate(&shared, &headers, "elements.customers.readwrite.all") {
        return r;
    }
    let Ok(b) = serde_json::from_slice::<Json>(&body) else {
        return error(StatusCode::BAD_REQUEST, "The request body is not valid JSON.");
    };
    let products: Vec<&str> = b
        .get("productNames")
        .and_then(Json::as_array)
        .map(|a| a.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default();
    if products.is_empty()
        || products.iter().any(|p| !["PartnerTenantSettingManagement", "PartnerWorkspaceOnboarding"].contains(p))
    {
        return error(
            StatusCode::BAD_REQUEST,
            "productNames must list PartnerTenantSettingManagement and/or PartnerWorkspaceOnboarding.",
        );
    }
    issue_link(&shared, &id, &tenant, &b)
}

async fn consent_status(
    Ax(shared): Ax<Arc<Shared>>,
    headers: HeaderMap,
    Path((id, tenant, _product)): Path<(String, String, String)>,
) -> Response {
    if let Err(r) = gate(&shared, &headers, "elements.customers.read.all") {
        return r;
    }
    let consented = shared.read(|w, _| {
        w.avepoint
            .customers
            .get(&id)
            .is_some_and(|c| c.tenants.iter().any(|t| t.get("name").and_then(Json::as_str) == Some(tenant.as_str())))
    });
    axum::Json(json!([{"isConsent": consented}])).into_response()
}

// ---------------------------------------------------------------------------------------------
// The Elements portal

/// A portal step by task kind. `target` is the customer id.
pub fn portal(
    w: &mut World,
    task: &str,
    values: &Json,
    target: Option<&str>,
    now: Timestamp,
) -> Result<String, String> {
    let id = target.ok_or("the task does not name the customer")?.to_string();
    let c = w.avepoint.customers.get_mut(&id).ok_or_else(|| format!("no customer {id} in Elements"))?;
    match task {
        "avepoint/change-management-mode" => {
            let want = values.get("managementMode").and_then(Json::as_str).unwrap_or_default();
            match (c.management_mode, want) {
                (0, "partner") => {
                    Err("once the customer manages its tenant, management cannot go back to the partner".into())
                }
                (_, "customer") => {
                    c.management_mode = 0;
                    Ok(format!("{} now manages its own tenant; a welcome e-mail was sent", c.organization))
                }
                (_, "partner") => {
                    c.management_mode = 1;
                    Ok(format!("{} is partner-managed", c.organization))
                }
                _ => Err(format!("unknown management mode `{want}`")),
            }
        }
        "avepoint/add-service" => {
            let name = values.get("product").and_then(Json::as_str).unwrap_or_default().to_string();
            if !c.services.iter().any(|s| s.get("service").and_then(Json::as_str) == Some(name.as_str())) {
                let enterprise = values.get("licenseType").and_then(Json::as_str) == Some("enterprise");
                c.services.push(json!({
                    "service": name,
                    "licenseType": u8::from(enterprise),
                    "subscriptionModel": if enterprise { "Enterprise" } else { "Trial" },
                    "source": "AvePoint subscription",
                    "expirationDate": after(now, Duration::from_secs(365 * 86_400)).to_string(),
                }));
            }
            Ok(format!("{name} added for {}", c.organization))
        }
        "avepoint/disconnect-customer" => {
            if !c.services.is_empty() {
                return Err(format!(
                    "{} still has {} active subscription(s); disconnect refused",
                    c.organization,
                    c.services.len()
                ));
            }
            let name = c.organization.clone();
            w.avepoint.customers.remove(&id);
            Ok(format!("{name} disconnected from Elements"))
        }
        "avepoint/edit-tags"
        | "avepoint/report-recipients"
        | "avepoint/billing-reports"
        | "avepoint/job-notification"
        | "avepoint/service-display" => {
            for (k, v) in values.as_object().into_iter().flatten() {
                if k == "tags" {
                    c.tags = v
                        .as_array()
                        .map(|a| a.iter().filter_map(Json::as_str).map(str::to_string).collect())
                        .unwrap_or_default();
                }
                c.portal.insert(k.clone(), v.clone());
            }
            Ok(format!("{task} saved for {}", c.organization))
        }
        other => Err(format!("the Elements portal has no step `{other}`")),
    }
}
