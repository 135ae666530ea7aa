//! Acronis Account Management API v2 (`/api/2`). Follows the vendor's OpenAPI (`shared/specs`)
//! and providers.md section 4: client-credentials tokens with an expiry, tenants with kinds and
//! hierarchy rules, `additionalProperties: false` bodies, `version` required on update and
//! delete (409 when stale), delete only once disabled (error 1006), users with the
//! login-availability check, access policies and the activation e-mail (after which the
//! simulated user activates), cursor paging with `paging.cursors.after`, and the documented
//! `{error: {code, domain, message, details, context, data}}` body.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State as Ax};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use base64::Engine;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use super::{Options, Shared, World, after, basic, bearer, credentials, plain_time, window};
use crate::model::Vendor;

/// Token lifetime: the guide says 2 hours (clients must use `expires_in`).
pub const TOKEN_TTL: Duration = Duration::from_secs(7200);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    pub tenants: BTreeMap<String, Tenant>,
    pub users: BTreeMap<String, User>,
    /// The next activation e-mail fails with a server error (set through the admin API).
    #[serde(default)]
    pub fail_next_activation_email: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Tenant {
    pub id: String,
    pub version: i64,
    pub name: String,
    pub parent_id: String,
    pub kind: String,
    pub contact: Json,
    pub customer_id: Option<String>,
    pub internal_tag: Option<String>,
    pub enabled: bool,
    pub language: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub version: i64,
    pub tenant_id: String,
    pub login: String,
    pub contact: Json,
    pub activated: bool,
    pub enabled: bool,
    pub access_policies: Vec<Json>,
    pub created_at: String,
    pub activate_at: Option<Timestamp>,
    /// Each activation e-mail Acronis queued, with the address it went to (the user's contact
    /// e-mail then) and when: shown in the dump, never in API answers.
    #[serde(default)]
    pub activation_emails: Vec<ActivationEmail>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ActivationEmail {
    pub to: String,
    pub at: String,
}

const BODY_TENANT_POST: &[&str] = &[
    "name",
    "parent_id",
    "kind",
    "contact",
    "company_billing_contact",
    "enabled",
    "customer_id",
    "internal_tag",
    "language",
    "default_idp_id",
    "update_lock",
    "ancestral_access",
    "settings",
];
const BODY_TENANT_PUT: &[&str] = &[
    "name",
    "customer_type",
    "parent_id",
    "kind",
    "contact",
    "enabled",
    "customer_id",
    "version",
    "brand_id",
    "internal_tag",
    "language",
    "default_idp_id",
    "update_lock",
    "ancestral_access",
    "external_operation_status",
];
const BODY_USER_POST: &[&str] = &[
    "tenant_id",
    "login",
    "external_id",
    "idp_id",
    "contact",
    "enabled",
    "language",
    "business_types",
    "notifications",
    "use_existing_identity",
    "origin_id",
    "origin_external_id",
    "disable_after",
];
const BODY_USER_PUT: &[&str] =
    &["version", "login", "external_id", "contact", "enabled", "language", "business_types", "notifications"];

impl State {
    pub fn seeded() -> Self {
        let mut s = State::default();
        let msp = Tenant {
            id: credentials::ACRONIS_HOME.into(),
            version: 1,
            name: "Contoso MSP (sandbox)".into(),
            parent_id: "00000000-0000-4000-8000-000000000001".into(),
            kind: "partner".into(),
            contact: json!({}),
            customer_id: None,
            internal_tag: None,
            enabled: true,
            language: "en".into(),
            created_at: "2026-01-01T00:00:00".into(),
            updated_at: "2026-01-01T00:00:00".into(),
        };
        s.tenants.insert(msp.id.clone(), msp);
        s
    }

    pub fn dump(&self) -> Json {
        let parents = self.parents();
        let mut out: Vec<Json> = self
            .tenants
            .values()
            .filter(|t| t.id != credentials::ACRONIS_HOME)
            .map(|t| json!({"type": "tenant", "tenant": self.tenant_json_as(t, parents.contains(t.id.as_str()))}))
            .collect();
        out.extend(self.users.values().map(|u| {
            let sent: Vec<Json> = u.activation_emails.iter().map(|e| json!({"to": e.to, "at": e.at})).collect();
            json!({"type": "user", "user": user_json(u), "activationEmails": sent})
        }));
        Json::Array(out)
    }

    fn tenant_json(&self, t: &Tenant) -> Json {
        self.tenant_json_as(t, self.tenants.values().any(|c| c.parent_id == t.id))
    }

    /// Every tenant that has children: one pass, for the answers that list many tenants.
    fn parents(&self) -> HashSet<&str> {
        self.tenants.values().map(|t| t.parent_id.as_str()).collect()
    }

    fn tenant_json_as(&self, t: &Tenant, has_children: bool) -> Json {
        json!({
            "id": t.id, "version": t.version, "created_at": t.created_at, "updated_at": t.updated_at, "deleted_at": null,
            "production_start_date": null, "name": t.name, "customer_type": "default", "parent_id": t.parent_id, "kind": t.kind,
            "contact": contact_json(t), "contacts": [], "enabled": t.enabled, "customer_id": t.customer_id, "brand_id": 1,
            "brand_enabled": false, "internal_tag": t.internal_tag, "language": t.language, "owner_id": null,
            "has_children": has_children, "default_idp_id": DEFAULT_IDP,
            "update_lock": {"enabled": false, "owner_id": null}, "ancestral_access": true, "mfa_status": "disabled",
            "pricing_mode": "trial", "offering_items": [], "brand_uuid": BRAND_UUID, "barrier": 0,
        })
    }

    /// Why a `kind` tenant named `name` cannot be placed under `parent` (providers.md 4.2), as
    /// the answer to give: the parent must exist and take this kind, hold no other tenant of
    /// that name, and, for the tenant `moving`, not be it or below it. The same rules for a
    /// create and a move.
    fn placement_refused(&self, parent: &str, kind: &str, name: &str, moving: Option<&str>) -> Option<Response> {
        let Some(p) = self.tenants.get(parent) else {
            let message = format!("Parent tenant {parent} was not found.");
            return Some(error(StatusCode::NOT_FOUND, "TenantNotFound", &message, None));
        };
        let (verb, field) = if moving.is_some() { ("placed", "parent_id") } else { ("created", "kind") };
        if !kind_allowed(&p.kind, kind) {
            let message = format!("A {kind} tenant cannot be {verb} under a {} tenant.", p.kind);
            return Some(error(StatusCode::BAD_REQUEST, "ValidationError", &message, Some(field)));
        }
        if moving.is_some_and(|id| self.in_subtree(id, parent)) {
            let message = "A tenant cannot be moved under itself or one of its descendants.";
            return Some(error(StatusCode::BAD_REQUEST, "ValidationError", message, Some("parent_id")));
        }
        let taken =
            |t: &Tenant| Some(t.id.as_str()) != moving && t.parent_id == parent && t.name.eq_ignore_ascii_case(name);
        if self.tenants.values().any(taken) {
            let message = format!("A tenant named '{name}' already exists under this parent.");
            return Some(error(StatusCode::CONFLICT, "TenantAlreadyExists", &message, None));
        }
        None
    }

    fn in_subtree(&self, root: &str, id: &str) -> bool {
        let mut cur = id.to_string();
        for _ in 0..32 {
            if cur == root {
                return true;
            }
            match self.tenants.get(&cur) {
                Some(t) => cur = t.parent_id.clone(),
                None => return false,
            }
        }
        false
    }
}

/// A tenant's contact as the full tenant shape documents it: with its own id and timestamps.
fn contact_json(t: &Tenant) -> Json {
    let mut c = t.contact.clone();
    if let Some(m) = c.as_object_mut() {
        m.insert("id".into(), json!(t.id));
        m.insert("created_at".into(), json!(t.created_at));
        m.insert("updated_at".into(), json!(t.updated_at));
    }
    c
}

fn user_json(u: &User) -> Json {
    json!({
        "id": u.id, "version": u.version, "tenant_id": u.tenant_id, "login": u.login, "contact": u.contact,
        "activated": u.activated, "enabled": u.enabled, "created_at": u.created_at, "updated_at": u.created_at,
        "deleted_at": null, "language": "en", "business_types": [], "notifications": [], "mfa_status": "disabled",
        "personal_tenant_id": null, "origin_id": null, "origin_external_id": null, "disable_after": null,
    })
}

/// A user as a single-object answer documents it (`user`): the list-only fields that are
/// unset are left out, where the list shape (`userBatch`) has them as null.
fn single_user_json(u: &User) -> Json {
    let mut j = user_json(u);
    if let Some(m) = j.as_object_mut() {
        for k in ["origin_id", "origin_external_id", "disable_after"] {
            m.remove(k);
        }
    }
    j
}

/// The identity provider and brand every sandbox tenant has (the documented shape wants ids).
const DEFAULT_IDP: &str = "11111111-2222-4333-8444-555555555555";
const BRAND_UUID: &str = "66666666-7777-4888-9999-aaaaaaaaaaaa";

/// An access policy as the API reports it: what was put, with its timestamps.
fn stamped_policy(p: &Json, at: &str) -> Json {
    let mut p = p.clone();
    if let Some(m) = p.as_object_mut() {
        m.entry("created_at").or_insert_with(|| json!(at));
        m.insert("updated_at".into(), json!(at));
        m.insert("deleted_at".into(), Json::Null);
    }
    p
}

pub fn settle(w: &mut World, now: Timestamp, _opts: &Options) {
    for u in w.acronis.users.values_mut() {
        if !u.activated && u.activate_at.is_some_and(|t| t <= now) {
            u.activated = true;
            u.activate_at = None;
            u.version += 1;
        }
    }
}

/// The documented error body.
pub fn error(status: StatusCode, code: impl Into<Json>, message: &str, info: Option<&str>) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code.into(), "domain": "PlatformAccountServer", "message": message, "details": {"info": info}, "context": {}, "data": []}})),
    )
        .into_response()
}

/// The routes this simulator serves (method, path under `/api/2`): each exists in the vendor's
/// OpenAPI, and each refuses a request without a valid token (tests check both).
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/idp/token"),
    ("GET", "/tenants"),
    ("POST", "/tenants"),
    ("GET", "/tenants/{id}"),
    ("PUT", "/tenants/{id}"),
    ("DELETE", "/tenants/{id}"),
    ("GET", "/tenants/{id}/children"),
    ("GET", "/tenants/{id}/users"),
    ("GET", "/search"),
    ("GET", "/users"),
    ("POST", "/users"),
    ("GET", "/users/check_login"),
    ("GET", "/users/{id}"),
    ("PUT", "/users/{id}"),
    ("DELETE", "/users/{id}"),
    ("PUT", "/users/{id}/access_policies"),
    ("GET", "/users/{id}/access_policies"),
    ("POST", "/users/{id}/send-activation-email"),
];

fn unauthorized() -> Response {
    error(StatusCode::UNAUTHORIZED, "Unauthorized", "The access token is missing, invalid or expired.", None)
}

fn authorized(shared: &Shared, h: &HeaderMap) -> bool {
    bearer(h).is_some_and(|t| shared.token_valid(Vendor::Acronis, t))
}

/// `additionalProperties: false`: refuse fields the schema does not list.
fn check_fields(body: &Json, allowed: &[&str]) -> Result<(), Response> {
    let Some(obj) = body.as_object() else {
        return Err(error(StatusCode::BAD_REQUEST, "ValidationError", "The request body must be a JSON object.", None));
    };
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(error(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            &format!("Additional properties are not allowed ('{k}' was unexpected)"),
            Some(k),
        )),
        None => Ok(()),
    }
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/2/idp/token", post(token))
        .route("/api/2/tenants", get(list_tenants).post(create_tenant))
        .route("/api/2/tenants/{id}", get(get_tenant).put(update_tenant).delete(delete_tenant))
        .route("/api/2/tenants/{id}/children", get(children))
        .route("/api/2/tenants/{id}/users", get(tenant_users))
        .route("/api/2/search", get(search))
        .route("/api/2/users", get(list_users).post(create_user))
        .route("/api/2/users/check_login", get(check_login))
        .route("/api/2/users/{id}", get(get_user).put(update_user).delete(delete_user))
        .route("/api/2/users/{id}/access_policies", put(put_policies).get(get_policies))
        .route("/api/2/users/{id}/send-activation-email", post(send_activation))
        .with_state(shared)
}

async fn token(
    Ax(shared): Ax<Arc<Shared>>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<BTreeMap<String, String>>,
) -> Response {
    let denied = |d: &str| {
        (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "access_denied", "error_description": d})))
            .into_response()
    };
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_request", "error_description": "unsupported grant_type"})),
        )
            .into_response();
    }
    let (id, secret) = match basic(&headers) {
        Some(c) => c,
        None => {
            (form.get("client_id").cloned().unwrap_or_default(), form.get("client_secret").cloned().unwrap_or_default())
        }
    };
    if id != credentials::ACRONIS_CLIENT || secret != credentials::ACRONIS_SECRET {
        return denied("invalid client credentials");
    }
    let t = shared.issue_token(Vendor::Acronis, TOKEN_TTL);
    let now = shared.now();
    axum::Json(json!({
        "access_token": t, "token_type": "bearer", "expires_in": TOKEN_TTL.as_secs(),
        "expires_on": after(now, TOKEN_TTL).as_second(), "id_token": format!("id.{t}"),
    }))
    .into_response()
}

/// Cursor paging: the cursor carries the filters, the offset and the page size. Only the
/// page's records are made into JSON (see [`window`]).
fn paged<T>(
    items: impl Iterator<Item = T>,
    limit: usize,
    offset: usize,
    filters: &Json,
    now: Timestamp,
    json: impl Fn(T) -> Json,
) -> Json {
    let (slice, len) = window(items, offset, limit, json);
    let end = offset.saturating_add(slice.len());
    let after = (end < len).then(|| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json!({"o": end, "l": limit, "f": filters}).to_string())
    });
    // No `after` on the last page (the documented cursor is a string when present).
    let cursors = match after {
        Some(a) => json!({"after": a}),
        None => json!({}),
    };
    json!({"items": slice, "paging": {"cursors": cursors}, "timestamp": plain_time(now)})
}

/// Where a list request starts: (offset, page size, filters). A cursor carries all three (a
/// `limit` given with it wins); without one, the query's own filters from offset 0.
fn page_start(
    q: &ListQuery,
    default_limit: usize,
    filters: impl FnOnce() -> Json,
) -> Result<(usize, usize, Json), Response> {
    let (offset, limit, filters) = match &q.after {
        Some(after) => {
            let invalid = || error(StatusCode::BAD_REQUEST, "InvalidCursor", "The paging cursor is invalid.", None);
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(after).map_err(|_| invalid())?;
            let v: Json = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
            let offset = v.get("o").and_then(Json::as_u64).ok_or_else(invalid)? as usize;
            let limit = q.limit.or_else(|| v.get("l").and_then(Json::as_u64).map(|l| l as usize));
            (offset, limit, v.get("f").cloned().unwrap_or(Json::Null))
        }
        None => (0, q.limit, filters()),
    };
    Ok((offset, limit.unwrap_or(default_limit).max(1), filters))
}

#[derive(Deserialize, Default)]
struct ListQuery {
    parent_id: Option<String>,
    subtree_root_id: Option<String>,
    uuids: Option<String>,
    limit: Option<usize>,
    after: Option<String>,
    tenant_id: Option<String>,
    subtree_root_tenant_id: Option<String>,
    with_access_policies: Option<bool>,
}

async fn list_tenants(Ax(shared): Ax<Arc<Shared>>, headers: HeaderMap, Query(q): Query<ListQuery>) -> Response {
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    let start = page_start(
        &q,
        5000,
        || json!({"parent_id": q.parent_id, "subtree_root_id": q.subtree_root_id, "uuids": q.uuids}),
    );
    let (offset, limit, filters) = match start {
        Ok(s) => s,
        Err(r) => return r,
    };
    if filters.get("uuids").and_then(Json::as_str).is_some_and(|u| u.split(',').count() > 100) {
        return error(StatusCode::BAD_REQUEST, "ValidationError", "uuids takes at most 100 ids", None);
    }
    let now = shared.now();
    let listed = shared.read(|w, _| {
        let s = &w.acronis;
        let parents = s.parents();
        let matching = s
            .tenants
            .values()
            .filter(|t| t.id != credentials::ACRONIS_HOME)
            .filter(|t| filters.get("parent_id").and_then(Json::as_str).is_none_or(|p| t.parent_id == p))
            .filter(|t| filters.get("subtree_root_id").and_then(Json::as_str).is_none_or(|r| s.in_subtree(r, &t.id)))
            .filter(|t| filters.get("uuids").and_then(Json::as_str).is_none_or(|u| u.split(',').any(|x| x == t.id)));
        paged(matching, limit, offset, &filters, now, |t| s.tenant_json_as(t, parents.contains(t.id.as_str())))
    });
    axum::Json(listed).into_response()
}

fn kind_allowed(parent_kind: &str, kind: &str) -> bool {
    match kind {
        "partner" | "folder" => matches!(parent_kind, "root" | "partner" | "folder"),
        "customer" => matches!(parent_kind, "partner" | "folder"),
        "unit" => matches!(parent_kind, "customer" | "unit"),
        _ => false,
    }
}

async fn create_tenant(Ax(shared): Ax<Arc<Shared>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    let Ok(body) = serde_json::from_slice::<Json>(&body) else {
        return error(StatusCode::BAD_REQUEST, "ValidationError", "The request body is not valid JSON.", None);
    };
    if let Err(r) = check_fields(&body, BODY_TENANT_POST) {
        return r;
    }
    let s = |k: &str| body.get(k).and_then(Json::as_str).map(str::to_string);
    let (Some(name), Some(parent), Some(kind)) = (s("name"), s("parent_id"), s("kind")) else {
        return error(StatusCode::BAD_REQUEST, "ValidationError", "name, parent_id and kind are required", None);
    };
    if let Some(email) = body.pointer("/contact/email").and_then(Json::as_str)
        && !email.is_empty()
        && !email.contains('@')
    {
        return error(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            "contact.email does not match '^$|\\S+@\\S+'",
            Some("contact.email"),
        );
    }
    shared.mutate(|w, now| {
        let st = &mut w.acronis;
        if let Some(refused) = st.placement_refused(&parent, &kind, &name, None) {
            return refused;
        }
        let t = Tenant {
            id: uuid::Uuid::new_v4().to_string(),
            version: now.as_millisecond(),
            name,
            parent_id: parent,
            kind,
            contact: body.get("contact").cloned().unwrap_or(json!({})),
            customer_id: s("customer_id"),
            internal_tag: s("internal_tag"),
            enabled: body.get("enabled").and_then(Json::as_bool).unwrap_or(true),
            language: s("language").unwrap_or_else(|| "en".into()),
            created_at: plain_time(now),
            updated_at: plain_time(now),
        };
        let out = st.tenant_json(&t);
        st.tenants.insert(t.id.clone(), t);
        (StatusCode::CREATED, axum::Json(out)).into_response()
    })
}

async fn get_tenant(Ax(shared): Ax<Arc<Shared>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    match shared.read(|w, _| w.acronis.tenants.get(&id).map(|t| w.acronis.tenant_json(t))) {
        Some(t) => axum::Json(t).into_response(),
        None => error(StatusCode::NOT_FOUND, "TenantNotFound", &format!("Tenant {id} was not found."), None),
    }
}

async fn update_tenant(
    Ax(shared): Ax<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    let Ok(body) = serde_json::from_slice::<Json>(&body) else {
        return error(StatusCode::BAD_REQUEST, "ValidationError", "The request body is not valid JSON.", None);
    };
    if let Err(r) = check_fields(&body, BODY_TENANT_PUT) {
        return r;
    }
    let Some(version) = body.get("version").and_then(Json::as_i64) else {
        return error(StatusCode::BAD_REQUEST, "ValidationError", "version is required", Some("version"));
    };
    shared.mutate(|w, now| {
        let Some(t) = w.acronis.tenants.get_mut(&id) else {
            return error(StatusCode::NOT_FOUND, "TenantNotFound", &format!("Tenant {id} was not found."), None);
        };
        if t.version != version {
            return error(
                StatusCode::CONFLICT,
                "VersionConflict",
                "The tenant was changed by someone else (version mismatch).",
                None,
            );
        }
        // A move (`tenantPut.parent_id`): the same hierarchy rules as a create (providers.md
        // 4.2): the parent must exist, take this kind, not be the tenant or below it, and hold
        // no other tenant of the same name.
        if let Some(parent) = body.get("parent_id").and_then(Json::as_str).filter(|p| *p != t.parent_id) {
            let (kind, name) = (t.kind.clone(), body.get("name").and_then(Json::as_str).unwrap_or(&t.name).to_string());
            if let Some(refused) = w.acronis.placement_refused(parent, &kind, &name, Some(&id)) {
                return refused;
            }
            let parent = parent.to_string();
            let Some(t) = w.acronis.tenants.get_mut(&id) else {
                return error(StatusCode::NOT_FOUND, "TenantNotFound", &format!("Tenant {id} was not found."), None);
            };
            t.parent_id = parent;
        }
        let Some(t) = w.acronis.tenants.get_mut(&id) else {
            return error(StatusCode::NOT_FOUND, "TenantNotFound", &format!("Tenant {id} was not found."), None);
        };
        if let Some(n) = body.get("name").and_then(Json::as_str) {
            t.name = n.to_string();
        }
        if let Some(c) = body.get("contact") {
            t.contact = c.clone();
        }
        if let Some(v) = body.get("customer_id") {
            t.customer_id = v.as_str().map(str::to_string);
        }
        if let Some(v) = body.get("internal_tag") {
            t.internal_tag = v.as_str().map(str::to_string);
        }
        if let Some(v) = body.get("enabled").and_then(Json::as_bool) {
            t.enabled = v;
        }
        t.version = now.as_millisecond().max(t.version + 1);
        t.updated_at = plain_time(now);
        let t = t.clone();
        axum::Json(w.acronis.tenant_json(&t)).into_response()
    })
}

#[derive(Deserialize)]
struct VersionQuery {
    version: Option<i64>,
}

async fn delete_tenant(
    Ax(shared): Ax<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<VersionQuery>,
) -> Response {
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    let Some(version) = q.version else {
        return error(StatusCode::BAD_REQUEST, "ValidationError", "version is required", Some("version"));
    };
    shared.mutate(|w, _| {
        let Some(t) = w.acronis.tenants.get(&id) else {
            return error(StatusCode::NOT_FOUND, "TenantNotFound", &format!("Tenant {id} was not found."), None);
        };
        if t.version != version {
            return error(
                StatusCode::CONFLICT,
                "VersionConflict",
                "The tenant was changed by someone else (version mismatch).",
                None,
            );
        }
        if t.enabled {
            return error(StatusCode::BAD_REQUEST, 1006, "The tenant must be disabled before it is deleted.", None);
        }
        let doomed: Vec<String> = w.acronis.tenants.keys().filter(|k| w.acronis.in_subtree(&id, k)).cloned().collect();
        for k in &doomed {
            w.acronis.tenants.remove(k);
        }
        w.acronis.users.retain(|_, u| !doomed.contains(&u.tenant_id));
        StatusCode::NO_CONTENT.into_response()
    })
}

async fn children(Ax(shared): Ax<Arc<Shared>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    let items: Vec<String> =
        shared.read(|w, _| w.acronis.tenants.values().filter(|t| t.parent_id == id).map(|t| t.id.clone()).collect());
    axum::Json(json!({"items": items, "timestamp": plain_time(shared.now())})).into_response()
}

async fn tenant_users(Ax(shared): Ax<Arc<Shared>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    let items: Vec<String> =
        shared.read(|w, _| w.acronis.users.values().filter(|u| u.tenant_id == id).map(|u| u.id.clone()).collect());
    axum::Json(json!({"items": items, "timestamp": plain_time(shared.now())})).into_response()
}

#[derive(Deserialize)]
struct SearchQuery {
    tenant: Option<String>,
    text: Option<String>,
    limit: Option<usize>,
}

async fn search(Ax(shared): Ax<Arc<Shared>>, headers: HeaderMap, Query(q): Query<SearchQuery>) -> Response {
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    let text = q.text.unwrap_or_default().to_lowercase();
    let root = q.tenant.unwrap_or_else(|| credentials::ACRONIS_HOME.into());
    let items: Vec<Json> = shared.read(|w, _| {
        w.acronis
            .tenants
            .values()
            .filter(|t| t.id != root && w.acronis.in_subtree(&root, &t.id) && t.name.to_lowercase().contains(&text))
            .take(q.limit.unwrap_or(10))
            .map(|t| json!({"id": t.id, "name": t.name, "obj_type": "tenant", "parent_id": t.parent_id}))
            .collect()
    });
    axum::Json(json!({"items": items})).into_response()
}

#[derive(Deserialize)]
struct LoginQuery {
    username: Option<String>,
}

async fn check_login(Ax(shared): Ax<Arc<Shared>>, headers: HeaderMap, Query(q): Query<LoginQuery>) -> Response {
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    let Some(login) = q.username.filter(|u| !u.trim().is_empty() && !u.contains(' ')) else {
        return error(StatusCode::NOT_ACCEPTABLE, "InvalidArgument", "The user name is not valid.", None);
    };
    let taken = shared.read(|w, _| w.acronis.users.values().any(|u| u.login.eq_ignore_ascii_case(&login)));
    if taken {
        error(StatusCode::CONFLICT, "LoginAlreadyTaken", &format!("The login '{login}' is already taken."), None)
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}

async fn list_users(Ax(shared): Ax<Arc<Shared>>, headers: HeaderMap, Query(q): Query<ListQuery>) -> Response {
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    let start = page_start(
        &q,
        2000,
        || json!({"tenant_id": q.tenant_id, "subtree_root_tenant_id": q.subtree_root_tenant_id, "with_access_policies": q.with_access_policies}),
    );
    let (offset, limit, filters) = match start {
        Ok(s) => s,
        Err(r) => return r,
    };
    let now = shared.now();
    let listed = shared.read(|w, _| {
        let s = &w.acronis;
        let matching = s
            .users
            .values()
            .filter(|u| filters.get("tenant_id").and_then(Json::as_str).is_none_or(|t| u.tenant_id == t))
            .filter(|u| {
                filters
                    .get("subtree_root_tenant_id")
                    .and_then(Json::as_str)
                    .is_none_or(|r| s.in_subtree(r, &u.tenant_id))
            });
        paged(matching, limit, offset, &filters, now, |u| {
            let mut j = user_json(u);
            if filters.get("with_access_policies").and_then(Json::as_bool) == Some(true) {
                j["access_policies"] = json!(u.access_policies);
            }
            j
        })
    });
    axum::Json(listed).into_response()
}

async fn create_user(Ax(shared): Ax<Arc<Shared>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    let Ok(body) = serde_json::from_slice::<Json>(&body) else {
        return error(StatusCode::BAD_REQUEST, "ValidationError", "The request body is not valid JSON.", None);
    };
    if let Err(r) = check_fields(&body, BODY_USER_POST) {
        return r;
    }
    let tenant = body.get("tenant_id").and_then(Json::as_str).unwrap_or_default().to_string();
    let login = body.get("login").and_then(Json::as_str).unwrap_or_default().to_string();
    if body.pointer("/contact/email").and_then(Json::as_str).is_none_or(|e| !e.contains('@')) {
        return error(StatusCode::BAD_REQUEST, "ValidationError", "contact.email is required", Some("contact.email"));
    }
    shared.mutate(|w, now| {
        if !w.acronis.tenants.contains_key(&tenant) {
            return error(StatusCode::NOT_FOUND, "TenantNotFound", &format!("Tenant {tenant} was not found."), None);
        }
        if w.acronis.users.values().any(|u| u.login.eq_ignore_ascii_case(&login)) {
            return error(
                StatusCode::CONFLICT,
                "LoginAlreadyTaken",
                &format!("The login '{login}' is already taken."),
                None,
            );
        }
        let u = User {
            id: uuid::Uuid::new_v4().to_string(),
            version: 1,
            tenant_id: tenant,
            login,
            contact: body.get("contact").cloned().unwrap_or(json!({})),
            activated: false,
            enabled: true,
            access_policies: Vec::new(),
            created_at: plain_time(now),
            activate_at: None,
            activation_emails: Vec::new(),
        };
        let out = single_user_json(&u);
        w.acronis.users.insert(u.id.clone(), u);
        axum::Json(out).into_response()
    })
}

async fn get_user(Ax(shared): Ax<Arc<Shared>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    match shared.read(|w, _| w.acronis.users.get(&id).map(user_json)) {
        Some(u) => axum::Json(u).into_response(),
        None => error(StatusCode::NOT_FOUND, "UserNotFound", &format!("User {id} was not found."), None),
    }
}

async fn update_user(
    Ax(shared): Ax<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    let Ok(body) = serde_json::from_slice::<Json>(&body) else {
        return error(StatusCode::BAD_REQUEST, "ValidationError", "The request body is not valid JSON.", None);
    };
    if let Err(r) = check_fields(&body, BODY_USER_PUT) {
        return r;
    }
    let Some(version) = body.get("version").and_then(Json::as_i64) else {
        return error(StatusCode::BAD_REQUEST, "ValidationError", "version is required", Some("version"));
    };
    shared.mutate(|w, _| {
        let Some(u) = w.acronis.users.get_mut(&id) else {
            return error(StatusCode::NOT_FOUND, "UserNotFound", &format!("User {id} was not found."), None);
        };
        if u.version != version {
            return error(
                StatusCode::CONFLICT,
                "VersionConflict",
                "The user was changed by someone else (version mismatch).",
                None,
            );
        }
        if let Some(c) = body.get("contact") {
            u.contact = c.clone();
        }
        u.version += 1;
        axum::Json(single_user_json(u)).into_response()
    })
}

async fn delete_user(
    Ax(shared): Ax<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<VersionQuery>,
) -> Response {
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    shared.mutate(|w, _| match w.acronis.users.get(&id) {
        Some(u) if Some(u.version) != q.version => {
            error(StatusCode::CONFLICT, "VersionConflict", "version mismatch", None)
        }
        Some(_) => {
            w.acronis.users.remove(&id);
            StatusCode::NO_CONTENT.into_response()
        }
        None => error(StatusCode::NOT_FOUND, "UserNotFound", &format!("User {id} was not found."), None),
    })
}

async fn get_policies(Ax(shared): Ax<Arc<Shared>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    match shared.read(|w, now| w.acronis.users.get(&id).map(|u| (u.access_policies.clone(), now))) {
        Some((p, now)) => axum::Json(json!({"items": p, "timestamp": plain_time(now)})).into_response(),
        None => error(StatusCode::NOT_FOUND, "UserNotFound", &format!("User {id} was not found."), None),
    }
}

async fn put_policies(
    Ax(shared): Ax<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    let Ok(body) = serde_json::from_slice::<Json>(&body) else {
        return error(StatusCode::BAD_REQUEST, "ValidationError", "The request body is not valid JSON.", None);
    };
    let Some(items) = body.get("items").and_then(Json::as_array).cloned() else {
        return error(StatusCode::BAD_REQUEST, "ValidationError", "items is required", Some("items"));
    };
    const ROLES: &[&str] =
        &["partner_admin", "company_admin", "readonly_admin", "unit_admin", "backup_user", "protection_admin"];
    for p in &items {
        let role = p.get("role_id").and_then(Json::as_str).unwrap_or_default();
        if !ROLES.contains(&role) {
            return error(
                StatusCode::BAD_REQUEST,
                "ValidationError",
                &format!("Unknown role_id '{role}'."),
                Some("role_id"),
            );
        }
    }
    shared.mutate(|w, now| {
        if !w.acronis.users.contains_key(&id) {
            return error(StatusCode::NOT_FOUND, "UserNotFound", &format!("User {id} was not found."), None);
        }
        for p in &items {
            let role = p.get("role_id").and_then(Json::as_str).unwrap_or_default();
            let kind = p
                .get("tenant_id")
                .and_then(Json::as_str)
                .and_then(|t| w.acronis.tenants.get(t))
                .map(|t| t.kind.as_str())
                .unwrap_or_default();
            if role == "company_admin" && kind != "customer" {
                return error(
                    StatusCode::CONFLICT,
                    "RoleConflict",
                    "company_admin applies only in a customer tenant.",
                    None,
                );
            }
        }
        let at = plain_time(now);
        let items: Vec<Json> = items.iter().map(|p| stamped_policy(p, &at)).collect();
        if let Some(u) = w.acronis.users.get_mut(&id) {
            u.access_policies = items.clone();
            u.version += 1;
        }
        axum::Json(json!({"items": items, "timestamp": at})).into_response()
    })
}

async fn send_activation(
    Ax(shared): Ax<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    // The OpenAPI defines no request body for SendActivationEmail.
    if !body.is_empty() {
        return error(StatusCode::BAD_REQUEST, "ValidationError", "SendActivationEmail takes no request body.", None);
    }
    let opts = shared.opts.clone();
    shared.mutate(|w, now| {
        let home = credentials::ACRONIS_HOME;
        let Some(u) = w.acronis.users.get_mut(&id) else {
            return error(StatusCode::NOT_FOUND, "UserNotFound", &format!("User {id} was not found."), None);
        };
        if u.tenant_id == home {
            return error(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "Activation e-mails go only to users of sub-tenants.",
                None,
            );
        }
        if std::mem::take(&mut w.acronis.fail_next_activation_email) {
            return super::server_error(Vendor::Acronis);
        }
        if !u.activated && opts.customers {
            u.activate_at = Some(after(now, opts.customer_delay));
        }
        let to = u.contact.get("email").and_then(Json::as_str).unwrap_or_default().to_string();
        u.activation_emails.push(ActivationEmail { to, at: plain_time(now) });
        StatusCode::NO_CONTENT.into_response()
    })
}
