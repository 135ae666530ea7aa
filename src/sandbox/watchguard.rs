//! WatchGuard Cloud platform API (accounts v1, operator management v1), standing in for Panda.
//! Follows providers.md section 5: a client-credentials token (Basic AccessID:Password,
//! `scope=api-access`, 1 h) plus the separate `WatchGuard-API-Key` header on every call;
//! accounts under a parent (1 = service provider, 2 = subscriber), children with
//! `offset`/`limit` (`-1` = all), PATCH answering 204, DELETE with `force`; operators created,
//! changed and deleted through transactions that stay `PENDING` for a while, then end `SUCCESS`
//! or `FAILED`.

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

use super::{Options, Shared, World, after, basic, bearer, credentials};
use crate::model::Vendor;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    pub accounts: BTreeMap<String, Account>,
    pub operators: BTreeMap<String, Operator>,
    pub transactions: BTreeMap<String, Transaction>,
    /// The next operator transaction fails (admin API), with this message.
    pub fail_next_operator: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub account_id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: u8,
    pub parent: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub created: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operator {
    pub user_name: String,
    pub account_id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: String,
    pub role: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Transaction {
    pub id: String,
    pub username: String,
    pub status: String,
    pub error: Option<String>,
    pub due: Timestamp,
    /// What happens when it succeeds: the operator to upsert, or a deletion.
    pub effect: Json,
}

impl State {
    pub fn seeded() -> Self {
        let mut s = State::default();
        s.accounts.insert(
            credentials::WG_HOME.into(),
            Account {
                account_id: credentials::WG_HOME.into(),
                name: "Contoso MSP (sandbox)".into(),
                kind: 1,
                parent: None,
                first_name: "Msp".into(),
                last_name: "Admin".into(),
                email: "admin@msp.sandbox".into(),
                created: "2026-01-01T00:00:00Z".into(),
            },
        );
        s
    }

    pub fn dump(&self) -> Json {
        let mut out: Vec<Json> = self
            .accounts
            .values()
            .filter(|a| a.account_id != credentials::WG_HOME)
            .map(|a| json!({"type": "account", "account": account_json(a)}))
            .collect();
        out.extend(self.operators.values().map(|o| json!({"type": "operator", "operator": o})));
        Json::Array(out)
    }
}

fn account_json(a: &Account) -> Json {
    json!({
        "accountId": a.account_id, "name": a.name, "type": a.kind, "parent": a.parent, "delegatedParent": null,
        "contacts": [{"firstName": a.first_name, "lastName": a.last_name, "email": a.email, "phone": null}],
        "addresses": [], "serviceProperties": {},
    })
}

pub fn settle(w: &mut World, now: Timestamp, _opts: &Options) {
    let s = &mut w.watchguard;
    let due: Vec<String> =
        s.transactions.values().filter(|t| t.status == "PENDING" && t.due <= now).map(|t| t.id.clone()).collect();
    for id in due {
        let Some(t) = s.transactions.get_mut(&id) else { continue };
        if t.error.is_some() {
            t.status = "FAILED".into();
            continue;
        }
        t.status = "SUCCESS".into();
        let effect = t.effect.clone();
        match effect.get("op").and_then(Json::as_str) {
            Some("delete") => {
                s.operators.remove(effect.get("username").and_then(Json::as_str).unwrap_or_default());
            }
            Some("upsert") => {
                if let Ok(op) = serde_json::from_value::<Operator>(effect["operator"].clone()) {
                    s.operators.insert(op.user_name.clone(), op);
                }
            }
            _ => {}
        }
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"message": message, "status": status.as_u16()}))).into_response()
}

/// Both credentials on every call: the bearer token and the API key.
fn gate(shared: &Shared, h: &HeaderMap) -> Result<(), Response> {
    if !bearer(h).is_some_and(|t| shared.token_valid(Vendor::Watchguard, t)) {
        return Err(error(StatusCode::UNAUTHORIZED, "The access token is missing, invalid or expired."));
    }
    if h.get("watchguard-api-key").and_then(|v| v.to_str().ok()) != Some(credentials::WG_API_KEY) {
        return Err(error(StatusCode::FORBIDDEN, "The WatchGuard-API-Key header is missing or invalid."));
    }
    Ok(())
}

pub fn router(shared: Arc<Shared>) -> Router {
    const ACC: &str = "/rest/platform/accounts/v1";
    const OPS: &str = "/rest/platform/operator-mgmt/v1";
    Router::new()
        .route("/oauth/token", post(token))
        .route(
            &format!("{ACC}/accounts/{{id}}"),
            post(create_account).get(get_account).patch(patch_account).delete(delete_account),
        )
        .route(&format!("{ACC}/accounts/{{id}}/children"), get(children))
        .route(&format!("{OPS}/operators"), post(create_operator).patch(patch_operator))
        .route(&format!("{OPS}/DeleteOperators"), post(delete_operator))
        .route(&format!("{OPS}/TransactionStatus"), get(transaction_status))
        .route(&format!("{OPS}/OperatorsByAccountId"), get(operators_by_account))
        .with_state(shared)
}

async fn token(
    Ax(shared): Ax<Arc<Shared>>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<BTreeMap<String, String>>,
) -> Response {
    match basic(&headers) {
        Some((id, pw)) if id == credentials::WG_ACCESS && pw == credentials::WG_PASSWORD => {}
        _ => {
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"error": "invalid_client", "error_description": "Bad access ID or password"})),
            )
                .into_response();
        }
    }
    if form.get("grant_type").map(String::as_str) != Some("client_credentials")
        || form.get("scope").map(String::as_str) != Some("api-access")
    {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "invalid_request", "error_description": "grant_type=client_credentials and scope=api-access are required"}))).into_response();
    }
    let t = shared.issue_token(Vendor::Watchguard, Duration::from_secs(3600));
    axum::Json(json!({"access_token": t, "token_type": "Bearer", "expires_in": 3600, "scope": "api-access"}))
        .into_response()
}

async fn create_account(
    Ax(shared): Ax<Arc<Shared>>,
    headers: HeaderMap,
    Path(parent): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = gate(&shared, &headers) {
        return r;
    }
    let Ok(body) = serde_json::from_slice::<Json>(&body) else {
        return error(StatusCode::BAD_REQUEST, "The body is not valid JSON.");
    };
    let text = |k: &str| body.get(k).and_then(Json::as_str).unwrap_or_default().to_string();
    let kind = body.get("type").and_then(Json::as_u64).unwrap_or(0) as u8;
    for k in ["name", "firstName", "lastName", "email"] {
        if text(k).is_empty() {
            return error(StatusCode::BAD_REQUEST, &format!("Missing required parameter: {k}"));
        }
    }
    if kind != 1 && kind != 2 {
        return error(StatusCode::BAD_REQUEST, "type must be 1 (Service Provider) or 2 (Subscriber)");
    }
    shared.mutate(|w, now| {
        let s = &mut w.watchguard;
        let Some(p) = s.accounts.get(&parent) else {
            return error(StatusCode::NOT_FOUND, &format!("Account {parent} not found"));
        };
        if p.kind != 1 {
            return error(
                StatusCode::BAD_REQUEST,
                "Child accounts can be created only under a Service Provider account",
            );
        }
        // Two clients creating the same account at once: the second gets 409.
        let recent = s.accounts.values().any(|a| {
            a.parent.as_deref() == Some(parent.as_str())
                && a.name.eq_ignore_ascii_case(&text("name"))
                && a.kind == kind
                && a.created.parse::<Timestamp>().is_ok_and(|c| after(c, Duration::from_secs(2)) > now)
        });
        if recent {
            return error(StatusCode::CONFLICT, "A request to create this account is already in progress");
        }
        let id = format!("ACC-{}", 2_000_000 + w.next_id % 7_000_000 + s.accounts.len() as u64);
        w.next_id += 1;
        let s = &mut w.watchguard;
        s.accounts.insert(
            id.clone(),
            Account {
                account_id: id.clone(),
                name: text("name"),
                kind,
                parent: Some(parent),
                first_name: text("firstName"),
                last_name: text("lastName"),
                email: text("email"),
                created: now.to_string(),
            },
        );
        axum::Json(json!({"accountId": id})).into_response()
    })
}

async fn get_account(Ax(shared): Ax<Arc<Shared>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = gate(&shared, &headers) {
        return r;
    }
    match shared.read(|w, _| w.watchguard.accounts.get(&id).map(account_json)) {
        Some(a) => axum::Json(a).into_response(),
        None => error(StatusCode::NOT_FOUND, &format!("Account {id} not found")),
    }
}

async fn patch_account(
    Ax(shared): Ax<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = gate(&shared, &headers) {
        return r;
    }
    let Ok(body) = serde_json::from_slice::<Json>(&body) else {
        return error(StatusCode::BAD_REQUEST, "The body is not valid JSON.");
    };
    let text = |k: &str| body.get(k).and_then(Json::as_str).map(str::to_string);
    let (Some(name), Some(first), Some(last), Some(email)) =
        (text("name"), text("firstName"), text("lastName"), text("email"))
    else {
        return error(StatusCode::BAD_REQUEST, "name, firstName, lastName and email are required");
    };
    shared.mutate(|w, _| match w.watchguard.accounts.get_mut(&id) {
        Some(a) => {
            a.name = name;
            a.first_name = first;
            a.last_name = last;
            a.email = email;
            StatusCode::NO_CONTENT.into_response()
        }
        None => error(StatusCode::NOT_FOUND, &format!("Account {id} not found")),
    })
}

#[derive(Deserialize)]
struct DeleteQuery {
    force: Option<bool>,
}

async fn delete_account(
    Ax(shared): Ax<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> Response {
    if let Err(r) = gate(&shared, &headers) {
        return r;
    }
    shared.mutate(|w, _| {
        let s = &mut w.watchguard;
        if !s.accounts.contains_key(&id) {
            return error(StatusCode::NOT_FOUND, &format!("Account {id} not found"));
        }
        let children: Vec<String> = s
            .accounts
            .values()
            .filter(|a| a.parent.as_deref() == Some(id.as_str()))
            .map(|a| a.account_id.clone())
            .collect();
        if !children.is_empty() && q.force != Some(true) {
            return error(StatusCode::CONFLICT, "The account has child accounts; delete them first or use force=true");
        }
        for c in children.iter().chain(std::iter::once(&id)) {
            s.accounts.remove(c);
            s.operators.retain(|_, o| &o.account_id != c);
        }
        axum::Json(json!({"childIds": children})).into_response()
    })
}

#[derive(Deserialize)]
struct ChildrenQuery {
    #[serde(rename = "type")]
    kind: Option<u8>,
    name: Option<String>,
    offset: Option<i64>,
    limit: Option<i64>,
}

async fn children(
    Ax(shared): Ax<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<ChildrenQuery>,
) -> Response {
    if let Err(r) = gate(&shared, &headers) {
        return r;
    }
    let kind = q.kind.unwrap_or(0);
    let all: Option<Vec<Json>> = shared.read(|w, _| {
        w.watchguard.accounts.contains_key(&id).then(|| {
            w.watchguard
                .accounts
                .values()
                .filter(|a| a.parent.as_deref() == Some(id.as_str()))
                .filter(|a| kind == 0 || a.kind == kind)
                .filter(|a| q.name.as_ref().is_none_or(|n| a.name.eq_ignore_ascii_case(n)))
                .map(account_json)
                .collect()
        })
    });
    let Some(all) = all else { return error(StatusCode::NOT_FOUND, &format!("Account {id} not found")) };
    let total = all.len();
    let offset = q.offset.unwrap_or(0).max(0) as usize;
    let limit = match q.limit {
        Some(-1) => usize::MAX,
        Some(l) if l > 0 => l as usize,
        _ => 100,
    };
    let items: Vec<Json> = all.into_iter().skip(offset).take(limit).collect();
    axum::Json(json!({"items": items, "limit": q.limit.unwrap_or(100), "offset": offset, "totalItems": total}))
        .into_response()
}

const SP_ROLES: &[&str] = &["OWNER", "SALES", "HELPDESK", "AUDITOR", "NO_ACCESS"];
const SUB_ROLES: &[&str] = &["ADMINISTRATOR", "ANALYST", "OBSERVER", "NO_ACCESS"];

fn validate_operator(body: &Json, account: Option<&Account>, creating: bool) -> Result<(), String> {
    let text = |k: &str| body.get(k).and_then(Json::as_str).unwrap_or_default();
    let username = text("username");
    if !(5..=65).contains(&username.len()) || !username.chars().all(|c| c.is_ascii_alphanumeric() || ".-_+".contains(c))
    {
        return Err("username must be 5-65 letters, digits, '.', '-', '_' or '+'".into());
    }
    let Some(account) = account else { return Err(format!("account {} not found", text("accountId"))) };
    if creating {
        for k in ["firstName", "lastName", "email", "phone", "role"] {
            if text(k).is_empty() {
                return Err(format!("Missing required parameter: {k}"));
            }
        }
    }
    let phone = text("phone");
    if !phone.is_empty() && (!phone.chars().all(|c| c.is_ascii_digit()) || !(6..=40).contains(&phone.len())) {
        return Err("phone must be 6-40 digits".into());
    }
    let role = text("role");
    let roles = if account.kind == 1 { SP_ROLES } else { SUB_ROLES };
    if !role.is_empty() && !roles.contains(&role) {
        return Err(format!("role {role} is not valid for this account type (expected one of {})", roles.join(", ")));
    }
    if let Some(pw) = body.get("password").and_then(Json::as_str) {
        let ok = pw.len() >= 12
            && pw.chars().any(|c| c.is_ascii_uppercase())
            && pw.chars().any(|c| c.is_ascii_lowercase())
            && pw.chars().any(|c| c.is_ascii_digit())
            && pw.chars().any(|c| !c.is_ascii_alphanumeric());
        if !ok {
            return Err(
                "password must be at least 12 characters with upper and lower case letters, a digit and a symbol"
                    .into(),
            );
        }
    }
    Ok(())
}

fn transaction(w: &mut World, now: Timestamp, opts: &Options, username: &str, effect: Json) -> Json {
    let id = format!("txn-{}", uuid::Uuid::new_v4().simple());
    let error = w.watchguard.fail_next_operator.take();
    w.watchguard.transactions.insert(
        id.clone(),
        Transaction {
            id: id.clone(),
            username: username.to_string(),
            status: "PENDING".into(),
            error,
            due: after(now, opts.operator_txn_delay),
            effect,
        },
    );
    json!({"transaction_id": id, "status": "PENDING", "message": "The request was accepted."})
}

async fn create_operator(Ax(shared): Ax<Arc<Shared>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if let Err(r) = gate(&shared, &headers) {
        return r;
    }
    let Ok(body) = serde_json::from_slice::<Json>(&body) else {
        return error(StatusCode::BAD_REQUEST, "The body is not valid JSON.");
    };
    let opts = shared.opts.clone();
    shared.mutate(|w, now| {
        let account_id = body.get("accountId").and_then(Json::as_str).unwrap_or_default().to_string();
        let account = w.watchguard.accounts.get(&account_id).cloned();
        if let Err(e) = validate_operator(&body, account.as_ref(), true) {
            return error(StatusCode::BAD_REQUEST, &e);
        }
        let username = body.get("username").and_then(Json::as_str).unwrap_or_default().to_string();
        if w.watchguard.operators.contains_key(&username) {
            let t = transaction(w, now, &opts, &username, json!({"op": "none"}));
            if let Some(tx) =
                t.get("transaction_id").and_then(Json::as_str).and_then(|id| w.watchguard.transactions.get_mut(id))
            {
                tx.error = Some(format!("Operator {username} already exists"));
            }
            return axum::Json(t).into_response();
        }
        let text = |k: &str| body.get(k).and_then(Json::as_str).unwrap_or_default().to_string();
        let op = Operator {
            user_name: username.clone(),
            account_id,
            first_name: text("firstName"),
            last_name: text("lastName"),
            email: text("email"),
            phone: text("phone"),
            role: text("role"),
        };
        axum::Json(transaction(w, now, &opts, &username, json!({"op": "upsert", "operator": op}))).into_response()
    })
}

async fn patch_operator(Ax(shared): Ax<Arc<Shared>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if let Err(r) = gate(&shared, &headers) {
        return r;
    }
    let Ok(body) = serde_json::from_slice::<Json>(&body) else {
        return error(StatusCode::BAD_REQUEST, "The body is not valid JSON.");
    };
    let opts = shared.opts.clone();
    shared.mutate(|w, now| {
        let username = body.get("username").and_then(Json::as_str).unwrap_or_default().to_string();
        let account = body.get("accountId").and_then(Json::as_str).and_then(|a| w.watchguard.accounts.get(a)).cloned();
        if let Err(e) = validate_operator(&body, account.as_ref(), false) {
            return error(StatusCode::BAD_REQUEST, &e);
        }
        let Some(mut op) = w.watchguard.operators.get(&username).cloned() else {
            return error(StatusCode::NOT_FOUND, &format!("Operator {username} not found"));
        };
        for (k, field) in [
            ("firstName", &mut op.first_name),
            ("lastName", &mut op.last_name),
            ("phone", &mut op.phone),
            ("role", &mut op.role),
        ] {
            if let Some(v) = body.get(k).and_then(Json::as_str) {
                *field = v.to_string();
            }
        }
        axum::Json(transaction(w, now, &opts, &username, json!({"op": "upsert", "operator": op}))).into_response()
    })
}

async fn delete_operator(Ax(shared): Ax<Arc<Shared>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if let Err(r) = gate(&shared, &headers) {
        return r;
    }
    let Ok(body) = serde_json::from_slice::<Json>(&body) else {
        return error(StatusCode::BAD_REQUEST, "The body is not valid JSON.");
    };
    let opts = shared.opts.clone();
    shared.mutate(|w, now| {
        let username = body.get("username").and_then(Json::as_str).unwrap_or_default().to_string();
        if !w.watchguard.operators.contains_key(&username) {
            return error(StatusCode::NOT_FOUND, &format!("Operator {username} not found"));
        }
        axum::Json(transaction(w, now, &opts, &username, json!({"op": "delete", "username": username}))).into_response()
    })
}

#[derive(Deserialize)]
struct TxnQuery {
    transaction_id: Option<String>,
}

async fn transaction_status(Ax(shared): Ax<Arc<Shared>>, headers: HeaderMap, Query(q): Query<TxnQuery>) -> Response {
    if let Err(r) = gate(&shared, &headers) {
        return r;
    }
    let id = q.transaction_id.unwrap_or_default();
    match shared.read(|w, _| w.watchguard.transactions.get(&id).cloned()) {
        Some(t) => axum::Json(json!({"status": t.status, "transaction_status": [{"status": t.status, "username": t.username, "error": t.error}]})).into_response(),
        None => error(StatusCode::NOT_FOUND, &format!("Transaction {id} not found")),
    }
}

#[derive(Deserialize)]
struct OpsQuery {
    account_id: Option<String>,
}

async fn operators_by_account(Ax(shared): Ax<Arc<Shared>>, headers: HeaderMap, Query(q): Query<OpsQuery>) -> Response {
    if let Err(r) = gate(&shared, &headers) {
        return r;
    }
    let account = q.account_id.unwrap_or_default();
    let result: Vec<Json> = shared.read(|w, _| {
        w.watchguard
            .operators
            .values()
            .filter(|o| o.account_id == account)
            .map(|o| json!({"accountId": o.account_id, "email": o.email, "firstName": o.first_name, "lastName": o.last_name, "phone": o.phone, "mfa": "Disabled", "userName": o.user_name}))
            .collect()
    });
    axum::Json(json!({"result": result, "status": "SUCCESS"})).into_response()
}
