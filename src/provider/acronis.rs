//! Acronis Account Management API v2 client: partner and customer tenants under the MSP, their
//! administrators (login check, access policy, activation e-mail), versioned updates.
//!
//! Observing is two cursor-paged list calls over the MSP's subtree: tenants (with contacts) and
//! users (with access policies).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value as Json, json};

use super::http::{Auth, Http, Req, Resp};
use super::{
    ActionContext, BoxFut, DesiredObject, ErrorKind, ObjectState, Observation, ObserveScope, ObservedObject, Outcome,
    Pending, VendorError, VendorReader, VendorWriter,
};
use crate::core::ActionKind;
use crate::model::{Connection, Vendor};
use crate::secrets::Secrets;

const ZERO: &str = "00000000-0000-0000-0000-000000000000";

struct ClientAuth {
    client_id: String,
    secret: SecretString,
    token: Mutex<Option<(String, Instant)>>,
}

impl Auth for ClientAuth {
    fn headers<'a>(&'a self, http: &'a Http) -> BoxFut<'a, Result<Vec<(HeaderName, HeaderValue)>, VendorError>> {
        Box::pin(async move {
            let cached = self
                .token
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .filter(|t| t.1 > Instant::now())
                .map(|t| t.0.clone());
            let token = match cached {
                Some(t) => t,
                None => {
                    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
                        "{}:{}",
                        self.client_id,
                        self.secret.expose_secret()
                    ));
                    let req = Req::post("/idp/token")
                        .form(vec![("grant_type".into(), "client_credentials".into())])
                        .header(reqwest::header::AUTHORIZATION, format!("Basic {basic}"))
                        .anonymous()
                        .idempotent();
                    let resp = http.send(&req, None).await?;
                    if !resp.status.is_success() {
                        let why = resp
                            .json()
                            .get("error_description")
                            .and_then(Json::as_str)
                            .unwrap_or("refused")
                            .to_string();
                        return Err(VendorError::new(
                            Vendor::Acronis,
                            ErrorKind::Auth,
                            "POST /idp/token",
                            format!("sign-in refused: {why}"),
                        )
                        .with_hint("check connections.acronis.clientId and the client secret it references"));
                    }
                    let j = resp.json();
                    let token = j.get("access_token").and_then(Json::as_str).unwrap_or_default().to_string();
                    let ttl = j.get("expires_in").and_then(Json::as_u64).unwrap_or(600).saturating_sub(60).max(30);
                    *self.token.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some((token.clone(), Instant::now() + Duration::from_secs(ttl)));
                    token
                }
            };
            let v = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                VendorError::new(Vendor::Acronis, ErrorKind::Auth, "token", "the token is not valid header text")
            })?;
            Ok(vec![(reqwest::header::AUTHORIZATION, v)])
        })
    }

    fn invalidate(&self) {
        *self.token.lock().unwrap_or_else(|p| p.into_inner()) = None;
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
            auth: ClientAuth { client_id: conn.principal.clone().unwrap_or_default(), secret, token: Mutex::new(None) },
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

    /// Every item of a cursor-paged list: follow `paging.cursors.after` to the end.
    async fn list(&self, path: &str, first: Vec<(&str, String)>) -> Result<Vec<Json>, VendorError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
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
            let page = self.ok(req).await?.json();
            out.extend(page.get("items").and_then(Json::as_array).cloned().unwrap_or_default());
            after = page.pointer("/paging/cursors/after").and_then(Json::as_str).map(str::to_string);
            if after.is_none() {
                return Ok(out);
            }
        }
    }

    async fn tenants(&self, parent: Option<&str>) -> Result<Vec<ObservedObject>, VendorError> {
        let filter = match parent {
            Some(p) => ("parent_id", p.to_string()),
            None => ("subtree_root_id", self.home.clone()),
        };
        let items =
            self.list("/tenants", vec![filter, ("lod", "full".into()), ("with_contacts", "true".into())]).await?;
        Ok(items.iter().filter_map(tenant).collect())
    }

    async fn users(&self, tenant: Option<&str>) -> Result<Vec<ObservedObject>, VendorError> {
        let filter = match tenant {
            Some(t) => ("tenant_id", t.to_string()),
            None => ("subtree_root_tenant_id", self.home.clone()),
        };
        let items = self.list("/users", vec![filter, ("with_access_policies", "true".into())]).await?;
        Ok(items.iter().filter_map(user).collect())
    }
}

fn tenant(t: &Json) -> Option<ObservedObject> {
    let s = |k: &str| t.get(k).cloned().unwrap_or(Json::Null);
    let c = |k: &str| t.pointer(&format!("/contact/{k}")).cloned().filter(|v| !v.is_null()).unwrap_or(Json::Null);
    let id = t.get("id")?.as_str()?.to_string();
    let name = t.get("name")?.as_str()?.to_string();
    let fields = BTreeMap::from([
        ("name".to_string(), json!(name)),
        ("kind".to_string(), s("kind")),
        ("internalTag".to_string(), s("internal_tag")),
        ("customerId".to_string(), s("customer_id")),
        ("contactEmail".to_string(), c("email")),
        ("contactFirstName".to_string(), c("firstname")),
        ("contactLastName".to_string(), c("lastname")),
        ("contactPhone".to_string(), c("phone")),
        ("address1".to_string(), c("address1")),
        ("city".to_string(), c("city")),
        ("zipcode".to_string(), c("zipcode")),
        ("country".to_string(), c("country")),
        ("enabled".to_string(), s("enabled")),
    ]);
    Some(ObservedObject {
        vendor: Vendor::Acronis,
        kind: "tenant".into(),
        id,
        natural_key: BTreeMap::from([("name".to_string(), name)]),
        parent_id: t.get("parent_id").and_then(Json::as_str).map(str::to_string),
        marker: t.get("internal_tag").and_then(Json::as_str).map(str::to_string),
        fields,
        version: t.get("version").map(|v| v.to_string()),
        state: ObjectState::Ready,
    })
}

fn user(u: &Json) -> Option<ObservedObject> {
    let c = |k: &str| u.pointer(&format!("/contact/{k}")).cloned().unwrap_or(Json::Null);
    let login = u.get("login")?.as_str()?.to_string();
    let activated = u.get("activated").and_then(Json::as_bool).unwrap_or(false);
    let role = u
        .get("access_policies")
        .and_then(Json::as_array)
        .and_then(|p| p.iter().find_map(|x| x.get("role_id").and_then(Json::as_str)))
        .map(str::to_string);
    let email = c("email");
    let state = if activated {
        ObjectState::Ready
    } else {
        ObjectState::Pending(Pending {
            what: format!(
                "activation by {} (Acronis sent the activation e-mail)",
                email.as_str().unwrap_or("the user")
            ),
            since: None,
            expected: None,
            overdue: None,
            by: crate::provider::Party::Customer,
        })
    };
    Some(ObservedObject {
        vendor: Vendor::Acronis,
        kind: "user".into(),
        id: u.get("id")?.as_str()?.to_string(),
        natural_key: BTreeMap::from([("login".to_string(), login.clone())]),
        parent_id: u.get("tenant_id").and_then(Json::as_str).map(str::to_string),
        marker: None,
        fields: BTreeMap::from([
            ("login".to_string(), json!(login)),
            ("email".to_string(), email),
            ("firstName".to_string(), c("firstname")),
            ("lastName".to_string(), c("lastname")),
            ("role".to_string(), json!(role)),
            ("activated".to_string(), json!(activated)),
        ]),
        version: u.get("version").map(|v| v.to_string()),
        state,
    })
}

fn error(op: &str, resp: &Resp) -> VendorError {
    let j = resp.json();
    let message = j
        .pointer("/error/message")
        .and_then(Json::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("HTTP {}", resp.status.as_u16()));
    let code = j.pointer("/error/code").map(|c| c.to_string().trim_matches('"').to_string()).unwrap_or_default();
    let kind = match resp.status.as_u16() {
        401 | 403 => ErrorKind::Auth,
        404 => ErrorKind::NotFound,
        409 => ErrorKind::Conflict,
        426 => ErrorKind::Conflict,
        s if s >= 500 => ErrorKind::Retryable,
        _ => ErrorKind::Rejected,
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
            Ok(Observation { objects, work: BTreeMap::new() })
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
                _ => Ok(None),
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
                    let t = self.ok(Req::post("/tenants").json(body)).await?.json();
                    Ok(Outcome {
                        vendor_id: t.get("id").and_then(Json::as_str).map(str::to_string),
                        ..Outcome::default()
                    })
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
                    let body = json!({
                        "version": version, "name": v("name"), "contact": contact(), "customer_id": v("customerId"), "internal_tag": v("internalTag"),
                    });
                    self.ok(Req::new(Method::PUT, format!("/tenants/{id}")).json(body)).await?;
                    Ok(Outcome { vendor_id: Some(id), ..Outcome::default() })
                }
                (ActionKind::Delete, "tenant") => {
                    let id = a.vendor_id.clone().ok_or_else(|| fail("no tenant id"))?;
                    let current = self.ok(Req::get(format!("/tenants/{id}"))).await?.json();
                    let mut version = current.get("version").and_then(Json::as_i64).unwrap_or(0);
                    if current.get("enabled").and_then(Json::as_bool) == Some(true) {
                        // Acronis deletes only disabled tenants (error 1006 otherwise).
                        let t = self
                            .ok(Req::new(Method::PUT, format!("/tenants/{id}"))
                                .json(json!({"version": version, "enabled": false})))
                            .await?
                            .json();
                        version = t.get("version").and_then(Json::as_i64).unwrap_or(version);
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
                    let u = self.ok(Req::post("/users").json(body)).await?.json();
                    let id = u
                        .get("id")
                        .and_then(Json::as_str)
                        .map(str::to_string)
                        .ok_or_else(|| fail("no user id in the answer"))?;
                    self.set_role(&id, &tenant, v("role").as_str().unwrap_or("company_admin")).await?;
                    self.ok(Req::post(format!("/users/{id}/send-activation-email"))).await?;
                    Ok(Outcome { vendor_id: Some(id), ..Outcome::default() })
                }
                (ActionKind::Sync | ActionKind::Adopt, "user") => {
                    let id = a.vendor_id.clone().ok_or_else(|| fail("no user id"))?;
                    let tenant = cx.parent_id.clone().unwrap_or_default();
                    let mut version: Option<i64> = a.version.as_deref().and_then(|s| s.parse().ok());
                    if a.changes.iter().any(|c| matches!(c.field.as_str(), "email" | "firstName" | "lastName")) {
                        let body = json!({"version": version, "contact": {"email": v("email"), "firstname": v("firstName"), "lastname": v("lastName")}});
                        let u = self.ok(Req::new(Method::PUT, format!("/users/{id}")).json(body)).await?.json();
                        version = u.get("version").and_then(Json::as_i64);
                    }
                    let _ = version;
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
