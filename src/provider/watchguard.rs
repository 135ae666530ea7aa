//! WatchGuard Cloud client: service-provider and subscriber accounts (accounts API v1),
//! operators created through asynchronous transactions (operator management API v1).
//!
//! Accounts are listed with `limit=-1` (the MSP's children, then each reseller's). The operator
//! API has no list across accounts: operators are read per account where something may be to
//! find, otherwise rebuilt from what their bindings recorded, with a random sample of
//! [`VERIFY_PER_OBSERVE`] accounts re-read each time (see `observe`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use backon::ExponentialBuilder;
use base64::Engine;
use reqwest::Method;
use reqwest::header::{HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value as Json, json};

use super::http::{Auth, Http, Pager, Req, Resp};
use super::oauth::{Grant, TokenSource, bearer_header};
use super::{
    ActionContext, BoxFut, DesiredObject, ErrorKind, ObjectState, Observation, ObserveScope, ObservedObject, Outcome,
    VendorError, VendorReader, VendorWriter, WorkStatus,
};
use crate::core::ActionKind;
use crate::model::{Connection, Vendor};
use crate::secrets::Secrets;

const ACC: &str = "/rest/platform/accounts/v1";
const OPS: &str = "/rest/platform/operator-mgmt/v1";
/// How many bound accounts each observe re-reads the operators of (picked at random) to catch
/// changes made in WatchGuard Cloud; the others' operators come from what tenantry recorded.
pub const VERIFY_PER_OBSERVE: usize = 100;

/// WatchGuard Cloud wire types: what tenantry reads. Unknown fields are accepted; a missing or
/// mistyped field tenantry relies on is an error.
mod wire {
    use serde::Deserialize;

    /// `GET /accounts/{id}/children`.
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Children {
        pub items: Vec<Account>,
        pub total_items: usize,
    }

    #[derive(Debug, Clone, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Account {
        pub account_id: String,
        pub name: String,
        /// 1 = Service Provider, 2 = Subscriber.
        #[serde(rename = "type")]
        pub kind: u8,
        #[serde(default)]
        pub parent: Option<String>,
        #[serde(default)]
        pub contacts: Vec<Contact>,
    }

    #[derive(Debug, Clone, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Contact {
        pub first_name: Option<String>,
        pub last_name: Option<String>,
        pub email: Option<String>,
    }

    /// `GET /OperatorsByAccountId`.
    #[derive(Debug, Deserialize)]
    pub struct Operators {
        pub result: Vec<Operator>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Operator {
        pub user_name: String,
        pub first_name: Option<String>,
        pub last_name: Option<String>,
        pub email: Option<String>,
        pub phone: Option<String>,
    }

    /// `GET /TransactionStatus`.
    #[derive(Debug, Deserialize)]
    pub struct Transaction {
        pub status: String,
        #[serde(default)]
        pub transaction_status: Vec<TransactionItem>,
    }

    #[derive(Debug, Deserialize)]
    pub struct TransactionItem {
        pub error: Option<String>,
    }

    /// The answer to creating an account.
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Created {
        pub account_id: String,
    }

    /// The answer to an operator change: a transaction to follow.
    #[derive(Debug, Deserialize)]
    pub struct Started {
        pub transaction_id: String,
    }
}

/// Client-credentials sign-in at `/oauth/token`, the access id and password as Basic auth.
struct WgGrant {
    access_id: String,
    password: SecretString,
}

impl Grant for WgGrant {
    fn vendor(&self) -> Vendor {
        Vendor::Watchguard
    }

    fn request(&self, _refresh: Option<&str>) -> Req {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            self.access_id,
            self.password.expose_secret()
        ));
        Req::post("/oauth/token")
            .form(vec![("grant_type".into(), "client_credentials".into()), ("scope".into(), "api-access".into())])
            .header(reqwest::header::AUTHORIZATION, format!("Basic {basic}"))
            .anonymous()
            .idempotent()
    }

    fn refused(&self, resp: &Resp) -> VendorError {
        VendorError::new(
            Vendor::Watchguard,
            ErrorKind::Auth,
            "POST /oauth/token",
            format!("sign-in refused ({})", resp.status.as_u16()),
        )
        .with_hint("check connections.watchguard.accessId and the password it references (Managed Access page)")
    }
}

/// The bearer token, and the API key every request carries beside it.
struct WgAuth {
    tokens: TokenSource<WgGrant>,
    api_key: SecretString,
}

impl Auth for WgAuth {
    fn refused_hint(&self) -> String {
        "check connections.watchguard.accessId and the password and API key it references (WatchGuard Cloud, Managed Access)".into()
    }

    fn headers<'a>(&'a self, http: &'a Http) -> BoxFut<'a, Result<Vec<(HeaderName, HeaderValue)>, VendorError>> {
        Box::pin(async move {
            let key = HeaderValue::from_str(self.api_key.expose_secret()).map_err(|_| {
                VendorError::new(
                    Vendor::Watchguard,
                    ErrorKind::Auth,
                    "credentials",
                    "the API key is not valid header text",
                )
                .with_hint("check the API key connections.watchguard.apiKey references")
            })?;
            Ok(vec![
                bearer_header(Vendor::Watchguard, &self.tokens.bearer(http).await?)?,
                (HeaderName::from_static("watchguard-api-key"), key),
            ])
        })
    }

    fn invalidate(&self, sent: &[(HeaderName, HeaderValue)]) -> bool {
        self.tokens.invalidate(super::oauth::sent_bearer(sent));
        true
    }
}

pub struct WatchGuard {
    http: Http,
    auth: WgAuth,
    home: String,
    /// How long to follow an operator transaction before leaving it to the next run.
    pub txn_wait: Duration,
}

impl WatchGuard {
    pub fn new(conn: &Connection, secrets: &Secrets) -> Result<Self, VendorError> {
        let secret = |role: &str| {
            let r = conn.secrets.get(role).ok_or_else(|| {
                VendorError::new(Vendor::Watchguard, ErrorKind::Auth, "connect", format!("no {role} configured"))
            })?;
            secrets
                .resolve(r)
                .map_err(|e| VendorError::new(Vendor::Watchguard, ErrorKind::Auth, "connect", e.to_string()))
        };
        Ok(WatchGuard {
            http: Http::new(Vendor::Watchguard, &conn.base_url, &conn.limits)?,
            auth: WgAuth {
                tokens: TokenSource::new(
                    WgGrant { access_id: conn.principal.clone().unwrap_or_default(), password: secret("password")? },
                    Duration::from_secs(3600),
                ),
                api_key: secret("apiKey")?,
            },
            home: conn.home.clone().unwrap_or_default(),
            txn_wait: Duration::from_secs(20),
        })
    }

    async fn ok(&self, req: Req) -> Result<Resp, VendorError> {
        let op = req.describe();
        let resp = self.http.send(&req, Some(&self.auth)).await?;
        if resp.status.is_success() {
            return Ok(resp);
        }
        Err(error(&op, &resp))
    }

    /// Every child account of `parent`, in one answer (`limit=-1`), which must hold the total it
    /// names.
    async fn children(&self, parent: &str) -> Result<Vec<wire::Account>, VendorError> {
        let req = Req::get(format!("{ACC}/accounts/{parent}/children")).query("limit", -1).query("offset", 0);
        let op = req.describe();
        let page: wire::Children = self.ok(req).await?.decode()?;
        Pager::new(Vendor::Watchguard, op).whole(page.items.len(), page.total_items)?;
        Ok(page.items)
    }

    async fn operators(&self, account: &str) -> Result<Vec<ObservedObject>, VendorError> {
        let list: wire::Operators =
            self.ok(Req::get(format!("{OPS}/OperatorsByAccountId")).query("account_id", account)).await?.decode()?;
        Ok(list.result.into_iter().map(|o| operator(o, account)).collect())
    }

    /// Follow a transaction until it ends, or `wait` passes.
    async fn follow(&self, txn: &str, wait: Duration) -> Result<Option<Result<(), String>>, VendorError> {
        let look = || async move {
            let t: wire::Transaction =
                self.ok(Req::get(format!("{OPS}/TransactionStatus")).query("transaction_id", txn)).await?.decode()?;
            Ok(match t.status.as_str() {
                "SUCCESS" => Some(Ok(())),
                "FAILED" => {
                    let why = t
                        .transaction_status
                        .into_iter()
                        .find_map(|s| s.error)
                        .unwrap_or_else(|| "no reason given".to_string());
                    Some(Err(why))
                }
                _ => None,
            })
        };
        // The pause doubling from 150 ms up to 5 s, for `wait` in all (none: one look).
        let backoff = ExponentialBuilder::new()
            .with_min_delay(Duration::from_millis(150))
            .with_max_delay(Duration::from_secs(5))
            .without_max_times()
            .with_total_delay(Some(wait));
        super::http::poll_until(backoff, look, |_| {}).await
    }
}

fn account(a: &wire::Account) -> ObservedObject {
    let kind = a.kind.to_string();
    let contact = a.contacts.first();
    let email = contact.and_then(|c| c.email.clone()).unwrap_or_default();
    ObservedObject {
        vendor: Vendor::Watchguard,
        kind: "account".into(),
        id: a.account_id.clone(),
        natural_key: BTreeMap::from([("name".to_string(), a.name.clone()), ("type".to_string(), kind.clone())]),
        parent_id: a.parent.clone(),
        marker: (!email.is_empty()).then(|| crate::provider::models::watchguard_contact_marker(&email)),
        fields: BTreeMap::from([
            ("name".to_string(), json!(a.name)),
            ("type".to_string(), json!(kind)),
            ("firstName".to_string(), json!(contact.and_then(|c| c.first_name.clone()))),
            ("lastName".to_string(), json!(contact.and_then(|c| c.last_name.clone()))),
            ("email".to_string(), json!(email)),
        ]),
        version: None,
        state: ObjectState::Ready,
    }
}

fn operator(o: wire::Operator, account: &str) -> ObservedObject {
    ObservedObject {
        vendor: Vendor::Watchguard,
        kind: "operator".into(),
        id: o.user_name.clone(),
        natural_key: BTreeMap::from([("username".to_string(), o.user_name.clone())]),
        parent_id: Some(account.to_string()),
        marker: None,
        fields: BTreeMap::from([
            ("username".to_string(), json!(o.user_name)),
            ("firstName".to_string(), json!(o.first_name)),
            ("lastName".to_string(), json!(o.last_name)),
            ("email".to_string(), json!(o.email)),
            ("phone".to_string(), json!(o.phone)),
        ]),
        version: None,
        state: ObjectState::Ready,
    }
}

/// What a binding records of an operator a transaction left at WatchGuard (keys prefixed
/// `operator.`), so `observe` can rebuild it without reading its account.
const RECORD: &str = "operator.";
const RECORDED: &[&str] = &["accountId", "userName", "firstName", "lastName", "email", "phone"];

/// The record of an operator given in the operator list's shape (`userName`, `accountId`, ...);
/// fields it lacks are left out (a PATCH does not carry the e-mail: the earlier record keeps it).
pub fn operator_record(listed: &Json) -> BTreeMap<String, Json> {
    RECORDED.iter().filter_map(|f| listed.get(*f).map(|v| (format!("{RECORD}{f}"), v.clone()))).collect()
}

/// An operator as its binding recorded it, when the record is complete: (account, object).
fn recorded_operator(b: &crate::core::Binding) -> Option<(String, ObservedObject)> {
    let mut entry = serde_json::Map::new();
    for field in RECORDED {
        entry.insert(field.to_string(), b.applied.get(&format!("{RECORD}{field}"))?.clone());
    }
    let account = entry.get("accountId")?.as_str()?.to_string();
    // tenantry's own record, not a vendor answer: one that does not read is simply not used
    // (the account's operators are read from WatchGuard instead).
    let o: wire::Operator = serde_json::from_value(Json::Object(entry)).ok()?;
    Some((account.clone(), operator(o, &account)))
}

fn error(op: &str, resp: &Resp) -> VendorError {
    let j = resp.error_json();
    let message = j
        .get("message")
        .and_then(Json::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(&resp.body).chars().take(200).collect());
    let kind = ErrorKind::from_status(resp.status.as_u16());
    VendorError::new(Vendor::Watchguard, kind, op, format!("{} ({})", message, resp.status.as_u16()))
}

impl VendorReader for WatchGuard {
    fn vendor(&self) -> Vendor {
        Vendor::Watchguard
    }

    fn observe<'a>(&'a self, scope: &'a ObserveScope) -> BoxFut<'a, Result<Observation, VendorError>> {
        Box::pin(async move {
            let top = self.children(&self.home).await?;
            let mut accounts = top.clone();
            for sp in top.iter().filter(|a| a.kind == 1) {
                accounts.extend(self.children(&sp.account_id).await?);
            }
            let mut objects: Vec<ObservedObject> = accounts.iter().map(account).collect();
            // Operators: one read per account tenantry manages (no list across accounts).
            let bound: HashSet<&str> =
                scope.bound.iter().filter(|(k, _)| k.kind == "account").map(|(_, b)| b.vendor_id.as_str()).collect();
            let wanted: HashSet<(String, &str)> = scope
                .desired
                .iter()
                .filter(|d| d.key.kind == "account")
                .map(|d| {
                    let value = |k: &str| d.natural_key.values.get(k).map(String::as_str).unwrap_or_default();
                    (value("name").to_ascii_lowercase(), value("type"))
                })
                .collect();
            let managed: Vec<String> = objects
                .iter()
                .filter(|o| {
                    bound.contains(o.id.as_str())
                        || wanted.contains(&(
                            o.natural_key.get("name").map(|x| x.to_ascii_lowercase()).unwrap_or_default(),
                            o.natural_key.get("type").map(String::as_str).unwrap_or_default(),
                        ))
                })
                .map(|o| o.id.clone())
                .collect();
            // WatchGuard lists operators only per account. Read the accounts where something may
            // be to find: one tenantry has not bound, or one with a desired operator whose last
            // successful transaction tenantry has not recorded (new, adopted, still pending).
            // Operators tenantry created or updated come from their bindings, and a sample of
            // VERIFY_PER_OBSERVE of those accounts is read each time to catch changes made in
            // WatchGuard Cloud: a converged observe costs the account pages, not one read per
            // customer.
            let mut recorded: HashMap<String, Vec<ObservedObject>> = HashMap::new();
            let mut recorded_keys: HashSet<&crate::provider::ObjectKey> = HashSet::new();
            for (key, b) in scope.bound.iter().filter(|(k, _)| k.kind == "operator") {
                if let Some((account, o)) = recorded_operator(b) {
                    recorded.entry(account).or_default().push(o);
                    recorded_keys.insert(key);
                }
            }
            let mut must_read: HashSet<&str> = HashSet::new();
            for d in scope.desired.iter().filter(|d| d.key.kind == "operator" && !recorded_keys.contains(&d.key)) {
                if let Some(b) = d.parent.as_ref().and_then(|p| scope.bound.get(p)) {
                    must_read.insert(b.vendor_id.as_str());
                }
            }
            let (mut read, trusted): (Vec<String>, Vec<String>) = managed.into_iter().partition(|id| {
                !bound.contains(id.as_str()) || must_read.contains(id.as_str()) || !recorded.contains_key(id)
            });
            let sample =
                rand::seq::index::sample(&mut rand::rng(), trusted.len(), trusted.len().min(VERIFY_PER_OBSERVE));
            let sampled: HashSet<usize> = sample.into_iter().collect();
            for (i, id) in trusted.into_iter().enumerate() {
                if sampled.contains(&i) {
                    read.push(id);
                } else {
                    objects.extend(recorded.remove(&id).unwrap_or_default());
                }
            }
            let reads = self.http.each(read, |id| async move { self.operators(&id).await }).await?;
            objects.extend(reads.into_iter().flatten());
            // Transactions earlier runs left behind.
            let mut work = BTreeMap::new();
            for (key, intent) in &scope.intents {
                if let Some(txn) = intent.detail.as_deref().and_then(|d| d.strip_prefix("transaction ")) {
                    match self.follow(txn, Duration::ZERO).await {
                        Ok(None) => {
                            work.insert(key.clone(), WorkStatus::Pending);
                        }
                        Ok(Some(Err(why))) => {
                            work.insert(key.clone(), WorkStatus::Failed(why));
                        }
                        Ok(Some(Ok(()))) => {}
                        Err(e) if e.kind == ErrorKind::NotFound => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            Ok(Observation { objects, work, unreadable: BTreeMap::new() })
        })
    }

    fn lookup<'a>(
        &'a self,
        d: &'a DesiredObject,
        parent_id: Option<&'a str>,
    ) -> BoxFut<'a, Result<Option<ObservedObject>, VendorError>> {
        Box::pin(async move {
            let parent = parent_id.unwrap_or(&self.home);
            match d.key.kind.as_str() {
                "account" => {
                    let name = d.natural_key.values.get("name").cloned().unwrap_or_default();
                    let kind = d.natural_key.values.get("type").cloned().unwrap_or_default();
                    let children = self.children(parent).await?;
                    Ok(children.iter().map(account).find(|a| {
                        a.natural_key.get("name").is_some_and(|n| n.eq_ignore_ascii_case(&name))
                            && a.natural_key.get("type") == Some(&kind)
                    }))
                }
                "operator" => {
                    let username = d.natural_key.values.get("username").cloned().unwrap_or_default();
                    Ok(self.operators(parent).await?.into_iter().find(|o| o.id.eq_ignore_ascii_case(&username)))
                }
                other => Err(VendorError::new(
                    Vendor::Watchguard,
                    ErrorKind::Rejected,
                    format!("look up {}", d.title),
                    format!("tenantry cannot look up a WatchGuard {other}"),
                )),
            }
        })
    }
}

impl VendorWriter for WatchGuard {
    fn execute<'a>(&'a self, cx: &'a ActionContext<'a>) -> BoxFut<'a, Result<Outcome, VendorError>> {
        Box::pin(async move {
            let a = cx.action;
            let op = format!("{} {}", a.kind.word(), a.title);
            let fail = |kind, m: &str| VendorError::new(Vendor::Watchguard, kind, &op, m);
            let v = |f: &str| {
                a.object
                    .as_ref()
                    .and_then(|d| d.fields.get(f))
                    .and_then(|f| f.value.json())
                    .cloned()
                    .unwrap_or(Json::Null)
            };
            match (a.kind, a.key.kind.as_str()) {
                (ActionKind::Create, "account") => {
                    let parent = cx.parent_id.clone().unwrap_or_else(|| self.home.clone());
                    let kind: u8 = v("type").as_str().and_then(|t| t.parse().ok()).unwrap_or(2);
                    let body = json!({"type": kind, "name": v("name"), "firstName": v("firstName"), "lastName": v("lastName"), "email": v("email")});
                    let created: wire::Created =
                        self.ok(Req::post(format!("{ACC}/accounts/{parent}")).json(body)).await?.decode()?;
                    Ok(Outcome { vendor_id: Some(created.account_id), ..Outcome::default() })
                }
                (ActionKind::Sync | ActionKind::Adopt, "account") => {
                    let id = a.vendor_id.clone().ok_or_else(|| fail(ErrorKind::Rejected, "no account id"))?;
                    if !a.changes.is_empty() {
                        // PATCH takes all four fields.
                        let body = json!({"name": v("name"), "firstName": v("firstName"), "lastName": v("lastName"), "email": v("email")});
                        self.ok(Req::new(Method::PATCH, format!("{ACC}/accounts/{id}")).json(body).idempotent())
                            .await?;
                    }
                    Ok(Outcome { vendor_id: Some(id), ..Outcome::default() })
                }
                (ActionKind::Delete, "account") => {
                    let id = a.vendor_id.clone().ok_or_else(|| fail(ErrorKind::Rejected, "no account id"))?;
                    self.ok(Req::new(Method::DELETE, format!("{ACC}/accounts/{id}")).query("force", "false")).await?;
                    Ok(Outcome { vendor_id: Some(id), ..Outcome::default() })
                }
                (ActionKind::Create | ActionKind::Sync | ActionKind::Adopt, "operator") => {
                    let account =
                        cx.parent_id.clone().ok_or_else(|| fail(ErrorKind::Rejected, "the account has no id"))?;
                    let username = v("username");
                    if a.kind != ActionKind::Create && a.changes.is_empty() {
                        return Ok(Outcome { vendor_id: username.as_str().map(str::to_string), ..Outcome::default() });
                    }
                    let (method, body) = if a.kind == ActionKind::Create {
                        (
                            Method::POST,
                            json!({
                                "username": username, "accountId": account, "firstName": v("firstName"), "lastName": v("lastName"),
                                "email": v("email"), "phone": v("phone"), "role": v("role"),
                            }),
                        )
                    } else {
                        (
                            Method::PATCH,
                            json!({
                                "username": username, "accountId": account, "firstName": v("firstName"), "lastName": v("lastName"),
                                "phone": v("phone"), "role": v("role"),
                            }),
                        )
                    };
                    let started: wire::Started =
                        self.ok(Req::new(method, format!("{OPS}/operators")).json(body.clone())).await?.decode()?;
                    let txn = started.transaction_id;
                    match self.follow(&txn, self.txn_wait).await? {
                        Some(Ok(())) => Ok(Outcome {
                            vendor_id: username.as_str().map(str::to_string),
                            // What WatchGuard now holds: later observes take it from the binding
                            // instead of reading the account's operators (see `observe`).
                            applied: {
                                let mut listed = body;
                                listed["userName"] = username.clone();
                                operator_record(&listed)
                            },
                            ..Outcome::default()
                        }),
                        Some(Err(why)) => Err(fail(
                            ErrorKind::Rejected,
                            &format!("WatchGuard reports the operator transaction failed: {why}"),
                        )
                        .with_hint("the next run looks the operator up before trying again")),
                        None => Ok(Outcome { pending: Some(format!("transaction {txn}")), ..Outcome::default() }),
                    }
                }
                (kind, object) => {
                    Err(fail(ErrorKind::Rejected, &format!("tenantry cannot {} a WatchGuard {object}", kind.word())))
                }
            }
        })
    }
}
