//! Datto REST v1 (SaaS Protection) and the partner portal's "Add SaaS Protection Client".
//! Follows providers.md section 2: Basic auth (unknown routes answer 404 before the auth
//! check), bare arrays for `saas/domains` and seats, the paged envelope for `applications`,
//! `bulkSeatChange` with case-sensitive enums and at most 100 ids, refused for Google tenants,
//! `X-API-Limit-*` headers and 429 when the budget is spent.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State as Ax};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use super::{Options, Shared, World, after, basic, credentials};

/// Requests allowed per budget window, and the window.
const BUDGET: u32 = 1_000;
const WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    pub clients: BTreeMap<u64, Client>,
    pub budget_used: u32,
    pub budget_resets: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Client {
    pub saas_customer_id: u64,
    pub name: String,
    pub domain: String,
    pub product: String,
    pub region: String,
    pub term: String,
    pub retention: String,
    pub managed_by: String,
    pub client_user: Json,
    pub auto_add: bool,
    pub license_cap: Option<u64>,
    pub organization_id: u64,
    pub external_subscription_id: String,
    /// `PendingAuthorization` until the customer authorizes, then `Active`.
    pub status: String,
    pub authorize_at: Option<Timestamp>,
    pub link_expires: Timestamp,
    pub seats: Vec<Seat>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Seat {
    pub main_id: String,
    pub remote_id: String,
    pub name: String,
    pub seat_type: String,
    pub seat_state: String,
    pub date_added: String,
}

impl State {
    pub fn dump(&self) -> Json {
        Json::Array(self.clients.values().map(|c| json!({"type": "saasClient", "client": c})).collect())
    }
}

impl Client {
    fn active_seats(&self) -> usize {
        self.seats.iter().filter(|s| s.seat_state == "Active").count()
    }

    fn domain_json(&self) -> Json {
        let active = self.active_seats();
        let authorized = self.status == "Active";
        json!({
            "saasCustomerId": self.saas_customer_id,
            "saasCustomerName": self.name,
            "domain": self.domain,
            "organizationId": self.organization_id,
            "organizationName": self.name,
            "seatsUsed": active,
            "productType": self.product,
            "externalSubscriptionId": self.external_subscription_id,
            "retentionType": self.retention,
            "backupStats": {
                "activeServicesCount": if authorized { active.max(1) } else { 0 },
                "activeServicesWithRecentBackupCount": if authorized { active } else { 0 },
                "backupPercentage": if authorized { 100 } else { 0 },
            },
        })
    }
}

pub fn settle(w: &mut World, now: Timestamp, opts: &Options) {
    let users = opts.tenant_users;
    for c in w.datto.clients.values_mut() {
        if c.status == "PendingAuthorization" && c.authorize_at.is_some_and(|t| t <= now) {
            c.authorize_at = None;
            if now > c.link_expires {
                continue; // the customer came back too late: the link had expired
            }
            c.status = "Active".into();
            // The customer's tenant: its users and shared mailboxes, not protected yet (auto-add
            // covers seats that appear from now on).
            let mut seats = Vec::new();
            for i in 1..=users {
                seats.push(("User", format!("user{i:02}@{}", c.domain)));
            }
            let second = if c.product == "GoogleApps" { "SharedDrive" } else { "SharedMailbox" };
            seats.push((second, format!("shared-info@{}", c.domain)));
            seats.push((second, format!("shared-sales@{}", c.domain)));
            c.seats = seats
                .into_iter()
                .enumerate()
                .map(|(i, (t, name))| Seat {
                    main_id: format!("{}-{i}", c.saas_customer_id),
                    remote_id: format!("r-{}-{i:03}", c.saas_customer_id),
                    name,
                    seat_type: t.to_string(),
                    seat_state: "Unprotected".into(),
                    date_added: super::plain_time(now),
                })
                .collect();
        }
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({"code": code, "message": message}))).into_response()
}

/// Check Basic auth and the request budget; add the rate-limit headers.
fn gate(shared: &Shared, headers: &HeaderMap) -> Result<Vec<(&'static str, String)>, Response> {
    match basic(headers) {
        Some((u, p)) if u == credentials::DATTO_PUBLIC && p == credentials::DATTO_SECRET => {}
        _ => return Err(error(StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized")),
    }
    shared.mutate(|w, now| {
        let resets = match w.datto.budget_resets {
            Some(r) if r > now => r,
            _ => {
                w.datto.budget_used = 0;
                let r = after(now, WINDOW);
                w.datto.budget_resets = Some(r);
                r
            }
        };
        let wait = (resets.as_second() - now.as_second()).max(1);
        if w.datto.budget_used >= BUDGET {
            let mut r = error(StatusCode::TOO_MANY_REQUESTS, "toomanyrequests", "Too Many Requests");
            r.headers_mut().insert("retry-after", HeaderValue::from(wait));
            r.headers_mut().insert("x-api-limit-remaining", HeaderValue::from(0));
            r.headers_mut().insert("x-api-limit-resets", HeaderValue::from(wait));
            return Err(r);
        }
        w.datto.budget_used += 1;
        Ok(vec![
            ("x-api-limit-remaining", (BUDGET - w.datto.budget_used).to_string()),
            ("x-api-limit-resets", wait.to_string()),
            ("x-api-limit-cost", "1".to_string()),
            ("x-request-id", uuid::Uuid::new_v4().to_string()),
        ])
    })
}

fn with_headers(mut r: Response, headers: Vec<(&'static str, String)>) -> Response {
    for (k, v) in headers {
        if let Ok(v) = HeaderValue::from_str(&v) {
            r.headers_mut().insert(k, v);
        }
    }
    r
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/saas/domains", get(domains))
        .route("/v1/saas/{id}/seats", get(seats))
        .route("/v1/saas/{id}/applications", get(applications))
        .route("/v1/saas/{id}/{subscription}/bulkSeatChange", put(bulk_seat_change))
        .route("/v1/report/activity-log", get(activity_log))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "exception.notfoundhttpexception", "Not Found") })
        .with_state(shared)
}

async fn domains(Ax(shared): Ax<Arc<Shared>>, headers: HeaderMap) -> Response {
    let h = match gate(&shared, &headers) {
        Ok(h) => h,
        Err(r) => return r,
    };
    let list: Vec<Json> = shared.read(|w, _| w.datto.clients.values().map(Client::domain_json).collect());
    with_headers(axum::Json(list).into_response(), h)
}

#[derive(Deserialize)]
struct SeatQuery {
    #[serde(rename = "seatType")]
    seat_type: Option<String>,
}

async fn seats(
    Ax(shared): Ax<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<SeatQuery>,
) -> Response {
    let h = match gate(&shared, &headers) {
        Ok(h) => h,
        Err(r) => return r,
    };
    let Ok(id) = id.parse::<u64>() else {
        return error(StatusCode::NOT_FOUND, "exception.notfoundhttpexception", "Not Found");
    };
    let types: Option<Vec<String>> = q.seat_type.map(|t| t.split(',').map(str::to_string).collect());
    let list = shared.read(|w, _| {
        w.datto.clients.get(&id).map(|c| {
            c.seats
                .iter()
                .filter(|s| types.as_ref().is_none_or(|t| t.contains(&s.seat_type)))
                .map(|s| {
                    json!({
                        "mainId": s.main_id, "name": s.name, "seatType": s.seat_type, "seatState": s.seat_state,
                        "billable": if s.seat_state == "Active" { "1" } else { "0" }, "dateAdded": s.date_added, "remoteId": s.remote_id,
                    })
                })
                .collect::<Vec<_>>()
        })
    });
    match list {
        Some(l) => with_headers(axum::Json(l).into_response(), h),
        None => error(StatusCode::NOT_FOUND, "exception.notfoundhttpexception", "Not Found"),
    }
}

#[derive(Deserialize)]
struct PageQuery {
    #[serde(rename = "_page")]
    page: Option<usize>,
    #[serde(rename = "_perPage")]
    per_page: Option<usize>,
    #[serde(rename = "daysUntil")]
    days_until: Option<u32>,
}

fn paged(items: Vec<Json>, q: &PageQuery) -> Json {
    let per_page = q.per_page.unwrap_or(100).clamp(1, 500);
    let page = q.page.unwrap_or(1).max(1);
    let total_pages = items.len().div_ceil(per_page).max(1);
    let slice: Vec<Json> = items.iter().skip((page - 1) * per_page).take(per_page).cloned().collect();
    json!({"pagination": {"page": page, "perPage": per_page, "totalPages": total_pages, "count": items.len()}, "items": slice})
}

async fn applications(
    Ax(shared): Ax<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let h = match gate(&shared, &headers) {
        Ok(h) => h,
        Err(r) => return r,
    };
    if q.days_until.is_some_and(|d| d > 30) {
        return error(StatusCode::BAD_REQUEST, "exception.badrequest", "daysUntil must be at most 30");
    }
    let Ok(id) = id.parse::<u64>() else {
        return error(StatusCode::NOT_FOUND, "exception.notfoundhttpexception", "Not Found");
    };
    let items = shared.read(|w, _| {
        w.datto.clients.get(&id).map(|c| {
            let by_type = |t: &str| c.seats.iter().filter(|s| s.seat_type == t).map(|s| s.remote_id.clone()).collect::<Vec<_>>();
            let count = |t: &str, state: &str| c.seats.iter().filter(|s| s.seat_type == t && s.seat_state == state).count();
            let remote_ids: Vec<Json> = ["User", "SharedMailbox", "SharedDrive"]
                .iter()
                .map(|t| json!({"seatType": t, "remoteIds": by_type(t), "active": count(t, "Active"), "paused": count(t, "Paused")}))
                .collect();
            vec![json!({
                "customerId": c.saas_customer_id,
                "customerName": c.name,
                "suites": [],
                "usedBytes": c.active_seats() * 1_000_000,
                "remoteIds": remote_ids,
            })]
        })
    });
    match items {
        Some(items) => with_headers(axum::Json(paged(items, &q)).into_response(), h),
        None => error(StatusCode::NOT_FOUND, "exception.notfoundhttpexception", "Not Found"),
    }
}

async fn activity_log(Ax(shared): Ax<Arc<Shared>>, headers: HeaderMap, Query(q): Query<PageQuery>) -> Response {
    let h = match gate(&shared, &headers) {
        Ok(h) => h,
        Err(r) => return r,
    };
    let items: Vec<Json> = shared.read(|w, _| {
        w.datto
            .clients
            .values()
            .map(|c| json!({"clientName": c.name, "action": "client.created", "target": c.domain}))
            .collect()
    });
    with_headers(axum::Json(paged(items, &q)).into_response(), h)
}

async fn bulk_seat_change(
    Ax(shared): Ax<Arc<Shared>>,
    headers: HeaderMap,
    Path((id, subscription)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let h = match gate(&shared, &headers) {
        Ok(h) => h,
        Err(r) => return r,
    };
    let Ok(body) = serde_json::from_slice::<Json>(&body) else {
        return error(StatusCode::BAD_REQUEST, "exception.badrequest", "The request body is not valid JSON");
    };
    let seat_type = body.get("seat_type").and_then(Json::as_str).unwrap_or_default().to_string();
    let action = body.get("action_type").and_then(Json::as_str).unwrap_or_default().to_string();
    let ids: Vec<String> = body
        .get("ids")
        .and_then(Json::as_array)
        .map(|a| a.iter().filter_map(Json::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    // Enums are case-sensitive.
    if !["User", "SharedMailbox", "Site", "TeamSite", "Team", "SharedDrive"].contains(&seat_type.as_str()) {
        return error(StatusCode::BAD_REQUEST, "exception.badrequest", &format!("Invalid seat_type '{seat_type}'"));
    }
    if !["License", "Pause", "Unlicense"].contains(&action.as_str()) {
        return error(StatusCode::BAD_REQUEST, "exception.badrequest", &format!("Invalid action_type '{action}'"));
    }
    if ids.is_empty() || ids.len() > 100 {
        return error(StatusCode::BAD_REQUEST, "exception.badrequest", "ids must hold between 1 and 100 seat ids");
    }
    let Ok(id) = id.parse::<u64>() else {
        return error(StatusCode::NOT_FOUND, "exception.notfoundhttpexception", "Not Found");
    };
    let result = shared.mutate(|w, _| {
        let Some(c) = w.datto.clients.get_mut(&id) else {
            return Err(error(StatusCode::NOT_FOUND, "exception.notfoundhttpexception", "Not Found"));
        };
        if c.external_subscription_id != subscription {
            return Err(error(StatusCode::NOT_FOUND, "exception.notfoundhttpexception", "Unknown subscription"));
        }
        if c.product == "GoogleApps" {
            return Err(error(StatusCode::BAD_REQUEST, "exception.badrequest", "Bulk seat changes are not available for Google Workspace (legacy seat management)"));
        }
        let mut out = Vec::new();
        for rid in &ids {
            let active = c.active_seats() as u64;
            let status = match c.seats.iter_mut().find(|s| &s.remote_id == rid && s.seat_type == seat_type) {
                None => "NotFound",
                Some(s) => match action.as_str() {
                    "License" if s.seat_state == "Active" => "Success",
                    "License" if c.license_cap.is_some_and(|cap| active >= cap) => "Failed",
                    "License" => {
                        s.seat_state = "Active".into();
                        "Success"
                    }
                    "Pause" => {
                        s.seat_state = "Paused".into();
                        "Success"
                    }
                    _ => {
                        s.seat_state = "Unprotected".into();
                        "Success"
                    }
                },
            };
            out.push(json!({"id": rid, "action": action, "appType": c.product, "customerId": c.saas_customer_id, "status": status}));
        }
        Ok(out)
    });
    match result {
        Ok(out) => with_headers(axum::Json(out).into_response(), h),
        Err(r) => r,
    }
}

// ---------------------------------------------------------------------------------------------
// The partner portal

fn text(values: &Json, field: &str) -> String {
    values.get(field).and_then(Json::as_str).unwrap_or_default().to_string()
}

/// "Add SaaS Protection Client" with all its fields; the domain appears in the API at once,
/// authorization follows when the customer acts.
pub fn add_client(w: &mut World, values: &Json, now: Timestamp, opts: &Options) -> Result<String, String> {
    let domain = text(values, "domain");
    let product = text(values, "productType");
    if domain.is_empty() || !["Office365", "GoogleApps"].contains(&product.as_str()) {
        return Err("the form needs the domain and a product (Office 365 or Google Workspace)".into());
    }
    if values.get("acknowledgeTerms") != Some(&Json::Bool(true)) {
        return Err("the terms must be acknowledged to add a client".into());
    }
    for required in ["clientName", "region", "term", "retentionType", "managedBy"] {
        if text(values, required).is_empty() {
            return Err(format!("the form field {required} is required"));
        }
    }
    if text(values, "managedBy") == "client" && !text(values, "clientUserEmail").contains('@') {
        return Err("a client-managed client needs the client user's e-mail".into());
    }
    if w.datto.clients.values().any(|c| c.domain.eq_ignore_ascii_case(&domain) && c.product == product) {
        return Err(format!("{domain} already has a {product} client"));
    }
    let id = 100_000 + w.fresh_id();
    let client = Client {
        saas_customer_id: id,
        name: text(values, "clientName"),
        domain: domain.clone(),
        product: product.clone(),
        region: text(values, "region"),
        term: text(values, "term"),
        retention: text(values, "retentionType"),
        managed_by: text(values, "managedBy"),
        client_user: json!({
            "firstName": text(values, "clientUserFirstName"), "lastName": text(values, "clientUserLastName"),
            "email": text(values, "clientUserEmail"), "countryCode": text(values, "clientUserCountryCode"), "mobile": text(values, "clientUserMobile"),
        }),
        auto_add: values.get("autoAdd").and_then(Json::as_bool).unwrap_or(false),
        license_cap: values.get("licenseCap").and_then(Json::as_u64),
        organization_id: 500 + id % 1000,
        external_subscription_id: format!("Classic:{product}:{id}"),
        status: "PendingAuthorization".into(),
        authorize_at: opts.customers.then(|| after(now, opts.customer_delay)),
        link_expires: after(now, opts.link_ttl),
        seats: Vec::new(),
    };
    w.datto.clients.insert(id, client);
    Ok(format!("client {domain} added (saasCustomerId {id}); authorization e-mail sent"))
}

fn client_for<'a>(w: &'a mut World, values: &Json, target: Option<&str>) -> Result<&'a mut Client, String> {
    let by_id = target.and_then(|t| t.parse::<u64>().ok());
    let domain = text(values, "domain");
    w.datto
        .clients
        .values_mut()
        .find(|c| Some(c.saas_customer_id) == by_id || (!domain.is_empty() && c.domain.eq_ignore_ascii_case(&domain)))
        .ok_or_else(|| "no such SaaS Protection client".to_string())
}

/// "Check Authorization": send the authorization e-mail again.
pub fn check_authorization(
    w: &mut World,
    values: &Json,
    target: Option<&str>,
    now: Timestamp,
    opts: &Options,
) -> Result<String, String> {
    let c = client_for(w, values, target)?;
    if c.status == "Active" {
        return Ok(format!("{} is already authorized", c.domain));
    }
    c.link_expires = after(now, opts.link_ttl);
    c.authorize_at = opts.customers.then(|| after(now, opts.customer_delay));
    Ok(format!("authorization e-mail for {} sent again", c.domain))
}

/// Subscription and licensing changes, with Datto's rules.
pub fn change_client(w: &mut World, values: &Json, target: Option<&str>) -> Result<String, String> {
    let c = client_for(w, values, target)?;
    if let Some(term) = values.get("term").and_then(Json::as_str) {
        let rank = |t: &str| match t {
            "monthToMonth" => 0,
            "oneYear" => 1,
            _ => 2,
        };
        if rank(term) < rank(&c.term) {
            return Err(format!("Datto does not allow a {} commitment to become {term}", c.term));
        }
        c.term = term.to_string();
    }
    if let Some(r) = values.get("retentionType").and_then(Json::as_str) {
        c.retention = r.to_string();
    }
    if let Some(a) = values.get("autoAdd").and_then(Json::as_bool) {
        c.auto_add = a;
    }
    if let Some(cap) = values.get("licenseCap") {
        let cap = cap.as_u64();
        if let Some(n) = cap
            && (n as usize) < c.active_seats()
        {
            return Err(format!(
                "the license cap ({n}) cannot be below the {} seats already protected",
                c.active_seats()
            ));
        }
        c.license_cap = cap;
    }
    if let Some(name) = values.get("clientName").and_then(Json::as_str) {
        c.name = name.to_string();
    }
    Ok(format!("client {} updated", c.domain))
}

/// Licensing seats by hand in the portal: for Google clients the only way (providers.md 2.2:
/// `bulkSeatChange` refuses Google subscriptions, legacy Google seat management). The task
/// names the seats (`seats: {"User": ["user01@..."]}`); licensing an `Active` seat changes
/// nothing, and the license cap is enforced as `bulkSeatChange` does (over-cap seats are not
/// licensed; providers.md 2.5, 2.6).
pub fn license_seats(w: &mut World, values: &Json, target: Option<&str>) -> Result<String, String> {
    let c = client_for(w, values, target)?;
    let wanted: Vec<(String, String)> = values
        .get("seats")
        .and_then(Json::as_object)
        .into_iter()
        .flatten()
        .flat_map(|(t, names)| {
            names.as_array().into_iter().flatten().filter_map(Json::as_str).map(|n| (t.clone(), n.to_string()))
        })
        .collect();
    if wanted.is_empty() {
        return Err("select at least one seat to license".into());
    }
    let is = |s: &Seat, seat_type: &str, name: &str| {
        s.seat_type == seat_type && (s.name.eq_ignore_ascii_case(name) || s.remote_id == name)
    };
    let unknown: Vec<&str> =
        wanted.iter().filter(|(t, n)| !c.seats.iter().any(|s| is(s, t, n))).map(|(_, n)| n.as_str()).collect();
    if !unknown.is_empty() {
        return Err(format!("{} has no such seats: {}", c.domain, unknown.join(", ")));
    }
    let mut licensed = 0;
    let mut over_cap = Vec::new();
    for (seat_type, name) in &wanted {
        let active = c.active_seats() as u64;
        let cap = c.license_cap;
        match c.seats.iter_mut().find(|s| is(s, seat_type, name)) {
            None => {}
            Some(s) if s.seat_state == "Active" => {}
            Some(_) if cap.is_some_and(|cap| active >= cap) => over_cap.push(name.clone()),
            Some(s) => {
                s.seat_state = "Active".into();
                licensed += 1;
            }
        }
    }
    if !over_cap.is_empty() {
        return Err(format!("the license cap is reached; not licensed: {}", over_cap.join(", ")));
    }
    Ok(format!("{licensed} seat(s) of {} licensed", c.domain))
}
