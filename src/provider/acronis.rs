//! Acronis Account Management API v2 client: partner and customer tenants under the MSP, their
//! administrators (login check, access policy, activation e-mail), versioned updates.
//!
//! Observing is two cursor-paged list calls over the MSP's subtree: tenants (with contacts) and
//! users (with access policies).

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::{Value as Json, json};

use super::http::{Auth, Http, Pager, Req, Resp};
use super::oauth::{Grant, TokenSource, bearer_header};
use super::{
    ActionContext, BoxFut, DesiredObject, ErrorKind, ObjectState, Observation, ObserveScope, ObservedObject, Outcome,
    Pending, VendorError, VendorReader, VendorWriter,
};
use crate::core::ActionKind;
use crate::model::{Connection, Vendor};
use crate::secrets::Secrets;

const ZERO: &str = "00000000-0000-0000-0000-000000000000";

/// Account Management API wire types: what tenantry reads, nothing more. Unknown fields are
/// accepted (Acronis adds fields); a missing or mistyped field tenantry relies on is an error.
mod wire {
    use serde::Deserialize;

    /// A cursor-paged list (`tenantBatch`, `userBatch`).
    /// `GET /tenants/{id}/children`: `{items: [uuid], timestamp}`.
    #[derive(Debug, Deserialize)]
    pub struct Ids {
        pub items: Vec<String>,
    }

    #[derive(Debug, Deserialize)]
    pub struct Page<T> {
        pub items: Vec<T>,
        pub paging: Paging,
    }

    #[derive(Debug, Deserialize)]
    pub struct Paging {
        #[serde(default)]
        pub cursors: Cursors,
    }

    #[derive(Debug, Default, Deserialize)]
    pub struct Cursors {
        /// Absent on the last page.
        #[serde(default)]
        pub after: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    pub struct Tenant {
        pub id: String,
        pub name: String,
        pub kind: String,
        pub version: i64,
        pub enabled: bool,
        #[serde(default)]
        pub parent_id: Option<String>,
        #[serde(default)]
        pub internal_tag: Option<String>,
        #[serde(default)]
        pub customer_id: Option<String>,
        #[serde(default)]
        pub contact: Option<Contact>,
    }

    #[derive(Debug, Default, Deserialize)]
    pub struct Contact {
        pub email: Option<String>,
        pub firstname: Option<String>,
        pub lastname: Option<String>,
        pub phone: Option<String>,
        pub address1: Option<String>,
        pub city: Option<String>,
        pub zipcode: Option<String>,
        pub country: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    pub struct User {
        pub id: String,
        pub login: String,
        pub tenant_id: String,
        pub version: i64,
        pub activated: bool,
        #[serde(default)]
        pub contact: Option<Contact>,
        #[serde(default)]
        pub access_policies: Option<Vec<Policy>>,
    }

    #[derive(Debug, Deserialize)]
    pub struct Policy {
        pub role_id: String,
    }

    /// The answer to a create or update: tenantry relies on the id or the new version only.
    #[derive(Debug, Deserialize)]
    pub struct Created {
        pub id: String,
    }

    #[derive(Debug, Deserialize)]
    pub struct Versioned {
        pub version: i64,
    }
}

/// Client-credentials sign-in at `/idp/token`, the client's id and secret as Basic auth.
struct ClientGrant {
    client_id: String,
    secret: SecretString,
}

impl Grant for ClientGrant {
    fn vendor(&self) -> Vendor {
        Vendor::Acronis
    }

    fn request(&self, _refresh: Option<&str>) -> Req {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            self.client_id,
            self.secret.expose_secret()
        ));
        Req::post("/idp/token")
            .form(vec![("grant_type".into(), "client_credentials".into())])
            .header(reqwest::header::AUTHORIZATION, format!("Basic {basic}"))
            .anonymous()
            .idempotent()
    }

    fn refused(&self, resp: &Resp) -> VendorError {
        let why = resp.error_json().get("error_description").and_then(Json::as_str).unwrap_or("refused").to_string();
        VendorError::new(Vendor::Acronis, ErrorKind::Auth, "POST /idp/token", format!("sign-in refused: {why}"))
            .with_hint("check connections.acronis.clientId and the client secret it references")
    }
}

struct ClientAuth(TokenSource<ClientGrant>);

impl Auth for ClientAuth {
    fn refused_hint(&self) -> String {
        "check connections.acronis.clientId, the client secret it references, and the API client's role in the Acronis management portal".into()
    }

    fn headers<'a>(&'a self, http: &'a Http) -> BoxFut<'a, Result<Vec<(HeaderName, HeaderValue)>, VendorError>> {
        Box::pin(async move { Ok(vec![bearer_header(Vendor::Acronis, &self.0.bearer(http).await?)?]) })
    }

    fn invalidate(&self, sent: &[(HeaderName, HeaderValue)]) -> bool {
        self.0.invalidate(super::oauth::sent_bearer(sent));
        true
    }
}

pub struct Acronis {
    http: Http,
    auth: ClientAuth,
    /// The MSP's partner tenant: the root of everything tenantry manages.
    home: String,
}

impl Acronis {
    pub fn new(conn: &Connection, secrets: &Secrets) -> Result<Self, VendorError> {
        let secret = conn.secrets.get("clientSecret").ok_or_else(|| {
            VendorError::new(Vendor::Acronis, ErrorKind::Auth, "connect", "no client secret configured")
        })?;
        let secret = secrets
            .resolve(secret)
            .map_err(|e| VendorError::new(Vendor::Acronis, ErrorKind::Auth, "connect", e.to_string()))?;
        Ok(Acronis {
            http: Http::new(Vendor::Acronis, &conn.base_url, &conn.limits)?,
            auth: ClientAuth(TokenSource::new(
                ClientGrant { client_id: conn.principal.clone().unwrap_or_default(), secret },
                Duration::from_secs(600),
            )),
            home: conn.home.clone().unwrap_or_default(),
        })
    }

    async fn send(&self, req: Req) -> Result<Resp, VendorError> {
        self.http.send(&req, Some(&self.auth)).await
    }

    async fn ok(&self, req: Req) -> Result<Resp, VendorError> {
        let op = req.describe();
        let resp = self.send(req).await?;
        if resp.status.is_success() {
            return Ok(resp);
        }
        Err(error(&op, &resp))
    }

    /// Every item of a cursor-paged list: follow `paging.cursors.after` to the end. A cursor
    /// that repeats, or a listing past the page cap, is an error (never an endless loop, never a
    /// quietly shortened list).
    async fn list<T: DeserializeOwned>(&self, path: &str, first: Vec<(&str, String)>) -> Result<Vec<T>, VendorError> {
        let mut pager = Pager::new(Vendor::Acronis, format!("GET {path}"));
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            pager.page()?;
            let mut req = Req::get(path);
            match &after {
                // The cursor carries the filters: send only it.
                Some(a) => req = req.query("after", a),
                None => {
                    for (k, v) in &first {
                        req = req.query(k, v);
                    }
                }
            }
            let page: wire::Page<T> = self.ok(req).await?.decode()?;
            out.extend(page.items);
            match page.paging.cursors.after.filter(|a| !a.is_empty()) {
                Some(a) => {
                    pager.cursor(&a)?;
                    after = Some(a);
                }
                None => return Ok(out),
            }
        }
    }

    async fn tenants(&self, parent: Option<&str>) -> Result<Vec<ObservedObject>, VendorError> {
        let filter = match parent {
            Some(p) => ("parent_id", p.to_string()),
            None => ("subtree_root_id", self.home.clone()),
        };
        let items: Vec<wire::Tenant> =
            self.list("/tenants", vec![filter, ("lod", "full".into()), ("with_contacts", "true".into())]).await?;
        Ok(items.into_iter().map(tenant).collect())
    }

    async fn users(&self, tenant: Option<&str>) -> Result<Vec<ObservedObject>, VendorError> {
        let filter = match tenant {
            Some(t) => ("tenant_id", t.to_string()),
            None => ("subtree_root_tenant_id", self.home.clone()),
        };
        let items: Vec<wire::User> = self.list("/users", vec![filter, ("with_access_policies", "true".into())]).await?;
        Ok(items.into_iter().map(user).collect())
    }
}

fn tenant(t: wire::Tenant) -> ObservedObject {
    let c = t.contact.unwrap_or_default();
    let fields = BTreeMap::from([
        ("name".to_string(), json!(t.name)),
        ("kind".to_string(), json!(t.kind)),
        ("internalTag".to_string(), json!(t.internal_tag)),
        ("customerId".to_string(), json!(t.customer_id)),
        ("contactEmail".to_string(), json!(c.email)),
        ("contactFirstName".to_string(), json!(c.firstname)),
        ("contactLastName".to_string(), json!(c.lastname)),
        ("contactPhone".to_string(), json!(c.phone)),
        ("address1".to_string(), json!(c.address1)),
        ("city".to_string(), json!(c.city)),
        ("zipcode".to_string(), json!(c.zipcode)),
        ("country".to_string(), json!(c.country)),
        ("enabled".to_string(), json!(t.enabled)),
    ]);
    ObservedObject {
        vendor: Vendor::Acronis,
        kind: "tenant".into(),
        id: t.id,
        natural_key: BTreeMap::from([("name".to_string(), t.name)]),
        parent_id: t.parent_id,
        marker: t.internal_tag,
        fields,
        version: Some(t.version.to_string()),
        state: ObjectState::Ready,
    }
}

fn user(u: wire::User) -> ObservedObject {
    let c = u.contact.unwrap_or_default();
    let role = u.access_policies.unwrap_or_default().into_iter().next().map(|p| p.role_id);
    let state = if u.activated {
        ObjectState::Ready
    } else {
        ObjectState::Pending(Pending {
            what: format!(
                "activation by {} (through the link in Acronis's activation e-mail)",
                c.email.as_deref().unwrap_or("the user")
            ),
            since: None,
            expected: None,
            overdue: None,
            by: crate::provider::Party::Customer,
        })
    };
    ObservedObject {
        vendor: Vendor::Acronis,
        kind: "user".into(),
        id: u.id,
        natural_key: BTreeMap::from([("login".to_string(), u.login.clone())]),
        parent_id: Some(u.tenant_id),
        marker: None,
        fields: BTreeMap::from([
            ("login".to_string(), json!(u.login)),
            ("email".to_string(), json!(c.email)),
            ("firstName".to_string(), json!(c.firstname)),
            ("lastName".to_string(), json!(c.lastname)),
            ("role".to_string(), json!(role)),
            ("activated".to_string(), json!(u.activated)),
        ]),
        version: Some(u.version.to_string()),
        state,
    }
}

fn error(op: &str, resp: &Resp) -> VendorError {
    let j = resp.error_json();
    let message = j
        .pointer("/error/message")
        .and_then(Json::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("HTTP {}", resp.status.as_u16()));
    let code = j.pointer("/error/code").map(|c| c.to_string().trim_matches('"').to_string()).unwrap_or_default();
    let kind = match resp.status.as_u16() {
        // 426: the version sent is not the current one.
        426 => ErrorKind::Conflict,
        s => ErrorKind::from_status(s),
    };
    let message = if code.is_empty() { message } else { format!("{message} ({code})") };
    VendorError::new(Vendor::Acronis, kind, op, message)
}

impl VendorReader for Acronis {
    fn vendor(&self) -> Vendor {
        Vendor::Acronis
    }

    fn observe<'a>(&'a self, _scope: &'a ObserveScope) -> BoxFut<'a, Result<Observation, VendorError>> {
        Box::pin(async move {
            let (tenants, users) = tokio::try_join!(self.tenants(None), self.users(None))?;
            let mut objects = tenants;
            objects.extend(users);
            Ok(Observation { objects, work: BTreeMap::new(), unreadable: BTreeMap::new() })
        })
    }

    fn lookup<'a>(
        &'a self,
        d: &'a DesiredObject,
        parent_id: Option<&'a str>,
    ) -> BoxFut<'a, Result<Option<ObservedObject>, VendorError>> {
        Box::pin(async move {
            match d.key.kind.as_str() {
                "tenant" => {
                    let name = d.natural_key.values.get("name").cloned().unwrap_or_default();
                    let parent = parent_id.unwrap_or(&self.home);
                    Ok(self
                        .tenants(Some(parent))
                        .await?
                        .into_iter()
                        .find(|t| t.natural_key.get("name").is_some_and(|n| n.eq_ignore_ascii_case(&name))))
                }
                "user" => {
                    let login = d.natural_key.values.get("login").cloned().unwrap_or_default();
                    let check = self.send(Req::get("/users/check_login").query("username", &login)).await?;
                    match check.status {
                        StatusCode::NO_CONTENT => Ok(None),
                        StatusCode::CONFLICT => {
                            let mine = match parent_id {
                                Some(t) => self.users(Some(t)).await?.into_iter().find(|u| {
                                    u.natural_key.get("login").is_some_and(|l| l.eq_ignore_ascii_case(&login))
                                }),
                                None => None,
                            };
                            match mine {
                                Some(u) => Ok(Some(u)),
                                None => Err(VendorError::new(
                                    Vendor::Acronis,
                                    ErrorKind::Rejected,
                                    "GET /users/check_login",
                                    format!("the login `{login}` is already taken by a user outside this tenant"),
                                )
                                .with_hint("Acronis logins are global: choose another username in the manifest")),
                            }
                        }
                        _ => Err(error("GET /users/check_login", &check)),
                    }
                }
                other => Err(VendorError::new(
                    Vendor::Acronis,
                    ErrorKind::Rejected,
                    format!("look up {}", d.title),
                    format!("tenantry cannot look up an Acronis {other}"),
                )),
            }
        })
    }
}

impl VendorWriter for Acronis {
    fn execute<'a>(&'a self, cx: &'a ActionContext<'a>) -> BoxFut<'a, Result<Outcome, VendorError>> {
        Box::pin(async move {
            let a = cx.action;
            let op = format!("{} {}", a.kind.word(), a.title);
            let fail = |m: &str| VendorError::new(Vendor::Acronis, ErrorKind::Rejected, &op, m);
            let d = a.object.as_ref();
            let v =
                |f: &str| d.and_then(|d| d.fields.get(f)).and_then(|f| f.value.json()).cloned().unwrap_or(Json::Null);
            let contact = || {
                json!({
                    "email": v("contactEmail"), "firstname": v("contactFirstName"), "lastname": v("contactLastName"),
                    "phone": v("contactPhone"), "address1": v("address1"), "city": v("city"), "zipcode": v("zipcode"),
                    "country": v("country"), "types": ["primary"],
                })
            };
            match (a.kind, a.key.kind.as_str()) {
                (ActionKind::Create, "tenant") => {
                    let parent = cx.parent_id.clone().unwrap_or_else(|| self.home.clone());
                    let body = json!({
                        "name": v("name"), "parent_id": parent, "kind": v("kind"), "contact": contact(),
                        "customer_id": v("customerId"), "internal_tag": v("internalTag"), "enabled": true, "language": "en",
                    });
                    let t: wire::Created = self.ok(Req::post("/tenants").json(body)).await?.decode()?;
                    Ok(Outcome { vendor_id: Some(t.id), ..Outcome::default() })
                }
                (ActionKind::Sync | ActionKind::Adopt, "tenant") => {
                    let id = a.vendor_id.clone().ok_or_else(|| fail("no tenant id"))?;
                    if a.changes.is_empty() {
                        return Ok(Outcome { vendor_id: Some(id), ..Outcome::default() });
                    }
                    // Always the version the plan read: a conflict means someone changed it since,
                    // and the next run reads it again rather than overwriting their change.
                    let version: i64 = a
                        .version
                        .as_deref()
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(|| fail("no version to update against"))?;
                    let mut body = json!({
                        "version": version, "name": v("name"), "contact": contact(), "customer_id": v("customerId"), "internal_tag": v("internalTag"),
                    });
                    // A move: `tenantPut.parent_id` (the published schema; providers.md 4.2). The
                    // new parent's id is resolved at run time (it may be created in this run).
                    if a.changes.iter().any(|c| c.field == "parent") {
                        let parent = cx.parent_id.clone().ok_or_else(|| fail("the new parent has no id"))?;
                        body["parent_id"] = json!(parent);
                    }
                    self.ok(Req::new(Method::PUT, format!("/tenants/{id}")).json(body)).await?;
                    Ok(Outcome { vendor_id: Some(id), ..Outcome::default() })
                }
                (ActionKind::Delete, "tenant") => {
                    let id = a.vendor_id.clone().ok_or_else(|| fail("no tenant id"))?;
                    // Acronis deletes a tenant with everything under it: refuse if anything is
                    // there now that the plan did not expect to go with it (a tenant made since
                    // planning, a customer whose move did not land).
                    let mut todo = vec![id.clone()];
                    let mut seen = std::collections::BTreeSet::new();
                    while let Some(parent) = todo.pop() {
                        let children: wire::Ids =
                            self.ok(Req::get(format!("/tenants/{parent}/children"))).await?.decode()?;
                        for child in children.items {
                            if !a.goes_with.contains(&child) {
                                return Err(VendorError::new(
                                    Vendor::Acronis,
                                    ErrorKind::Rejected,
                                    op.clone(),
                                    format!(
                                        "tenant {child} is under it now, and deleting {id} would delete it too; nothing was deleted (run plan again)"
                                    ),
                                ));
                            }
                            if seen.insert(child.clone()) {
                                todo.push(child);
                            }
                        }
                    }
                    let current: wire::Tenant = self.ok(Req::get(format!("/tenants/{id}"))).await?.decode()?;
                    let mut version = current.version;
                    if current.enabled {
                        // Acronis deletes only disabled tenants (error 1006 otherwise).
                        let t: wire::Versioned = self
                            .ok(Req::new(Method::PUT, format!("/tenants/{id}"))
                                .json(json!({"version": version, "enabled": false})))
                            .await?
                            .decode()?;
                        version = t.version;
                    }
                    self.ok(Req::new(Method::DELETE, format!("/tenants/{id}")).query("version", version)).await?;
                    Ok(Outcome { vendor_id: Some(id), ..Outcome::default() })
                }
                (ActionKind::Create, "user") => {
                    let tenant = cx.parent_id.clone().ok_or_else(|| fail("the tenant has no id"))?;
                    let login = v("login");
                    // The login must be free (logins are global).
                    let check = self
                        .send(Req::get("/users/check_login").query("username", login.as_str().unwrap_or_default()))
                        .await?;
                    if check.status == StatusCode::CONFLICT {
                        return Err(fail(&format!("the login {login} is already taken"))
                            .with_hint("Acronis logins are global: choose another username"));
                    }
                    let body = json!({
                        "tenant_id": tenant, "login": login,
                        "contact": {"email": v("email"), "firstname": v("firstName"), "lastname": v("lastName")},
                        "enabled": true, "language": "en",
                    });
                    let u: wire::Created = self.ok(Req::post("/users").json(body)).await?.decode()?;
                    let id = u.id;
                    // The user exists from here on: a later step that fails is reported as a
                    // failure of the run, never as done (nor awaited as if the e-mail went out),
                    // and is done again by the next plan.
                    let rest = async {
                        self.set_role(&id, &tenant, v("role").as_str().unwrap_or("company_admin")).await?;
                        self.ok(Req::post(format!("/users/{id}/send-activation-email"))).await.map(|_| ())
                    };
                    match rest.await {
                        Ok(()) => Ok(Outcome { vendor_id: Some(id), ..Outcome::default() }),
                        Err(e) => Ok(Outcome {
                            vendor_id: Some(id),
                            applied: BTreeMap::from([("activationEmail".to_string(), Json::Null)]),
                            incomplete: Some(e.to_string()),
                            ..Outcome::default()
                        }),
                    }
                }
                (ActionKind::Sync | ActionKind::Adopt, "user") => {
                    let id = a.vendor_id.clone().ok_or_else(|| fail("no user id"))?;
                    let tenant = cx.parent_id.clone().unwrap_or_default();
                    let version: Option<i64> = a.version.as_deref().and_then(|s| s.parse().ok());
                    if a.changes.iter().any(|c| matches!(c.field.as_str(), "email" | "firstName" | "lastName")) {
                        let body = json!({"version": version, "contact": {"email": v("email"), "firstname": v("firstName"), "lastname": v("lastName")}});
                        self.ok(Req::new(Method::PUT, format!("/users/{id}")).json(body)).await?;
                    }
                    if a.changes.iter().any(|c| c.field == "role") {
                        self.set_role(&id, &tenant, v("role").as_str().unwrap_or("company_admin")).await?;
                    }
                    if a.changes.iter().any(|c| c.field == "activationEmail") {
                        self.ok(Req::post(format!("/users/{id}/send-activation-email"))).await?;
                    }
                    Ok(Outcome { vendor_id: Some(id), ..Outcome::default() })
                }
                (kind, object) => Err(fail(&format!("tenantry cannot {} an Acronis {object}", kind.word()))),
            }
        })
    }
}

impl Acronis {
    async fn set_role(&self, user: &str, tenant: &str, role: &str) -> Result<(), VendorError> {
        // The documented body is a whole access-policy list, timestamps included.
        let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S").to_string();
        let body = json!({"timestamp": now, "items": [{
            "id": ZERO, "issuer_id": ZERO, "trustee_id": user, "trustee_type": "user", "tenant_id": tenant, "role_id": role, "version": 0,
            "created_at": now, "updated_at": now, "deleted_at": null,
        }]});
        self.ok(Req::new(Method::PUT, format!("/users/{user}/access_policies")).json(body)).await?;
        Ok(())
    }
}
