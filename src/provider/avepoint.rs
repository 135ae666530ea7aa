//! AvePoint Elements partner API v3 client: onboarding (local accounts), authorization links for
//! tenant consent, services. Business outcomes come as `status` codes on HTTP 200 and are read,
//! never assumed.
//!
//! Observing is two batch lists in pages of 100: customers, and services per customer. A
//! consented tenant's environment is only in a per-tenant read (`GET /customers/{id}/tenants/
//! {tenantId}`): it is read for each consent whose environment tenantry has not recorded
//! applying, and for a random sample of [`VERIFY_PER_OBSERVE`] of the others; the rest come
//! from their bindings (see `observe`).

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::{Value as Json, json};

use super::http::{Auth, Http, Pager, Req, Resp};
use super::oauth::{Grant, TokenSource, bearer_header};
use super::{
    ActionContext, BoxFut, DesiredObject, ErrorKind, FieldValue, ObjectState, Observation, ObserveScope,
    ObservedObject, Outcome, Pending, VendorError, VendorReader, VendorWriter,
};
use crate::core::ActionKind;
use crate::model::{Connection, Vendor};
use crate::secrets::Secrets;

const BASE: &str = "/partner/external/v3/general";
const PAGE: usize = 100;
/// How many consented tenants each observe re-reads the environment of (picked at random), to
/// catch a tenant consented again in another environment; below this many, every observe reads
/// all.
pub const VERIFY_PER_OBSERVE: usize = 20;

/// The consent fields only the per-tenant read reports.
const ENVIRONMENT: [&str; 2] = ["aadEnvironment", "platformEnvironmentType"];

const SCOPES: &str = "elements.customers.readwrite.all elements.license.readwrite.all";

/// Elements partner API wire types: what tenantry reads. Unknown fields are accepted; a missing
/// or mistyped field tenantry relies on is an error.
mod wire {
    use serde::Deserialize;

    /// A batch list page.
    #[derive(Debug, Deserialize)]
    pub struct Page<T> {
        pub data: Vec<T>,
        pub metadata: Metadata,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Metadata {
        pub total_count: usize,
    }

    #[derive(Debug, Clone, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Customer {
        pub id: String,
        pub owner_email: String,
        pub organization: Option<String>,
        pub country_or_region: Option<String>,
        /// 0 = customer, 1 = partner; null while to be configured.
        pub management_mode: Option<u8>,
        #[serde(default)]
        pub tenants: Vec<Tenant>,
    }

    #[derive(Debug, Clone, Deserialize)]
    pub struct Tenant {
        #[serde(default)]
        pub id: Option<String>,
        pub name: String,
    }

    /// One tenant's read (`GET /customers/{customerId}/tenants/{tenantId}`, providers.md 6.2).
    #[derive(Debug, Clone, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct TenantInfo {
        pub aad_environment: u64,
        pub platform_environment_type: u64,
    }

    /// One customer's services (`customers/services/batch`).
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Services {
        pub customer_id: String,
        #[serde(default)]
        pub products: Vec<Product>,
    }

    #[derive(Debug, Clone, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Product {
        pub service: String,
        pub license_type: Option<u8>,
        pub subscription_model: Option<String>,
    }

    /// A business outcome on HTTP 200: `status` says what happened.
    #[derive(Debug, Deserialize)]
    pub struct Outcome {
        pub status: u64,
        #[serde(default)]
        pub id: Option<String>,
    }

    /// An authorization link (its URL is never kept).
    #[derive(Debug, Deserialize)]
    pub struct Link {
        pub id: String,
    }
}

/// Client-credentials sign-in at the identity service's `/connect/token`.
struct ClientGrant {
    identity: String,
    client_id: String,
    secret: SecretString,
}

impl Grant for ClientGrant {
    fn vendor(&self) -> Vendor {
        Vendor::Avepoint
    }

    fn request(&self, _refresh: Option<&str>) -> Req {
        Req::post(format!("{}/connect/token", self.identity.trim_end_matches('/')))
            .form(vec![
                ("grant_type".into(), "client_credentials".into()),
                ("client_id".into(), self.client_id.clone()),
                ("client_secret".into(), self.secret.expose_secret().to_string()),
                ("scope".into(), SCOPES.into()),
            ])
            .anonymous()
            .idempotent()
    }

    fn refused(&self, resp: &Resp) -> VendorError {
        let why = resp.error_json().get("error").and_then(Json::as_str).unwrap_or("refused").to_string();
        VendorError::new(Vendor::Avepoint, ErrorKind::Auth, "POST /connect/token", format!("sign-in refused: {why}"))
            .with_hint("check connections.avepoint.clientId, the client secret it references, and the app's API permissions (Elements › Settings › API app registration)")
    }
}

/// The token, fetched from the identity service over a connection of its own.
struct ClientAuth {
    tokens: TokenSource<ClientGrant>,
    identity: Http,
}

impl Auth for ClientAuth {
    fn refused_hint(&self) -> String {
        "check connections.avepoint.clientId, the client secret it references, and the app's API permissions".into()
    }

    fn headers<'a>(&'a self, _http: &'a Http) -> BoxFut<'a, Result<Vec<(HeaderName, HeaderValue)>, VendorError>> {
        Box::pin(async move { Ok(vec![bearer_header(Vendor::Avepoint, &self.tokens.bearer(&self.identity).await?)?]) })
    }

    fn invalidate(&self, sent: &[(HeaderName, HeaderValue)]) -> bool {
        self.tokens.invalidate(super::oauth::sent_bearer(sent));
        true
    }
}

pub struct AvePoint {
    http: Http,
    auth: ClientAuth,
}

impl AvePoint {
    pub fn new(conn: &Connection, secrets: &Secrets) -> Result<Self, VendorError> {
        let secret = conn.secrets.get("clientSecret").ok_or_else(|| {
            VendorError::new(Vendor::Avepoint, ErrorKind::Auth, "connect", "no client secret configured")
        })?;
        let secret = secrets
            .resolve(secret)
            .map_err(|e| VendorError::new(Vendor::Avepoint, ErrorKind::Auth, "connect", e.to_string()))?;
        let identity =
            conn.identity_url.clone().unwrap_or_else(|| "https://identity.avepointonlineservices.com".into());
        Ok(AvePoint {
            http: Http::new(Vendor::Avepoint, &conn.base_url, &conn.limits)?,
            auth: ClientAuth {
                tokens: TokenSource::new(
                    ClientGrant {
                        identity: identity.clone(),
                        client_id: conn.principal.clone().unwrap_or_default(),
                        secret,
                    },
                    Duration::from_secs(3600),
                ),
                identity: Http::new(Vendor::Avepoint, &identity, &conn.limits)?,
            },
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

    /// Every item of a batch list (`pageIndex` from 1, 100 a page), which must agree with the
    /// `totalCount` its pages name.
    async fn batch<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, VendorError> {
        let pager = Pager::new(Vendor::Avepoint, format!("POST {BASE}{path}"));
        self.http
            .pages(pager, |page, _| async move {
                // A read sent as POST: safe to repeat.
                let req = Req::post(format!("{BASE}{path}"))
                    .query("pageIndex", page + 1)
                    .query("pageSize", PAGE)
                    .json(json!({}))
                    .idempotent();
                let page: wire::Page<T> = self.ok(req).await?.decode()?;
                Ok((page.data, page.metadata.total_count))
            })
            .await
    }
}

fn mode(m: Option<u8>) -> &'static str {
    match m {
        Some(0) => "customer",
        Some(1) => "partner",
        _ => "toBeConfigured",
    }
}

fn customer(c: &wire::Customer, services: usize) -> ObservedObject {
    ObservedObject {
        vendor: Vendor::Avepoint,
        kind: "customer".into(),
        id: c.id.clone(),
        natural_key: BTreeMap::from([("email".to_string(), c.owner_email.clone())]),
        parent_id: None,
        marker: None,
        fields: BTreeMap::from([
            ("organizationName".to_string(), json!(c.organization)),
            ("registrationAccount".to_string(), json!(c.owner_email)),
            ("countryCode".to_string(), json!(c.country_or_region)),
            ("managementMode".to_string(), json!(mode(c.management_mode))),
            ("activeServices".to_string(), json!(services)),
        ]),
        version: None,
        state: ObjectState::Ready,
    }
}

fn slug(service: &str) -> Option<&'static str> {
    use crate::model::AvePointProduct as P;
    [
        P::CloudBackupM365,
        P::CloudBackupGoogleWorkspace,
        P::CloudBackupExpress,
        P::BaselineManagement,
        P::WorkspaceManagement,
        P::UserDeviceManagement,
        P::StorageOptimization,
    ]
    .into_iter()
    .find(|p| crate::provider::models::avepoint_product_name(*p) == service)
    .map(crate::provider::models::avepoint_product_slug)
}

fn error(op: &str, resp: &Resp) -> VendorError {
    let j = resp.error_json();
    let message = j
        .get("message")
        .and_then(Json::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("HTTP {}", resp.status.as_u16()));
    let kind = ErrorKind::from_status(resp.status.as_u16());
    VendorError::new(Vendor::Avepoint, kind, op, message)
}

impl VendorReader for AvePoint {
    fn vendor(&self) -> Vendor {
        Vendor::Avepoint
    }

    fn observe<'a>(&'a self, scope: &'a ObserveScope) -> BoxFut<'a, Result<Observation, VendorError>> {
        Box::pin(async move {
            let (customers, services): (Vec<wire::Customer>, Vec<wire::Services>) =
                tokio::try_join!(self.batch("/customers/batch"), self.batch("/customers/services/batch"))?;
            let mut products: BTreeMap<String, Vec<wire::Product>> = BTreeMap::new();
            for s in services {
                products.entry(s.customer_id).or_default().extend(s.products);
            }
            let mut objects = Vec::new();
            let mut by_email: BTreeMap<String, (&wire::Customer, String)> = BTreeMap::new();
            for c in &customers {
                let id = c.id.clone();
                let mine = products.get(&id).cloned().unwrap_or_default();
                objects.push(customer(c, mine.len()));
                for p in &mine {
                    let name = p.service.as_str();
                    let Some(slug) = slug(name) else { continue };
                    let enterprise = p.license_type == Some(1) || p.subscription_model.as_deref() == Some("Enterprise");
                    let license = if enterprise { "enterprise" } else { "trial" };
                    objects.push(ObservedObject {
                        vendor: Vendor::Avepoint,
                        kind: format!("service/{slug}"),
                        id: format!("{id}/{slug}"),
                        natural_key: BTreeMap::from([("service".to_string(), name.to_string())]),
                        parent_id: Some(id.clone()),
                        marker: None,
                        fields: BTreeMap::from([
                            ("product".to_string(), json!(name)),
                            ("licenseType".to_string(), json!(license)),
                        ]),
                        version: None,
                        state: ObjectState::Ready,
                    });
                }
                by_email.insert(c.owner_email.to_ascii_lowercase(), (c, id));
            }
            // Tenant consent: connected tenants show on the customer. A consent tenantry started
            // (bound) and not yet given is pending.
            let emails: BTreeMap<&crate::model::ManifestRef, String> = scope
                .desired
                .iter()
                .filter(|d| d.key.kind == "customer")
                .filter_map(|d| d.natural_key.values.get("email").map(|e| (&d.key.owner, e.to_ascii_lowercase())))
                .collect();
            // Per consent observed: its object, and the tenant to read when its environment is read.
            let mut consents: Vec<(ObservedObject, Option<(String, String)>)> = Vec::new();
            let (mut read, mut trusted) = (Vec::new(), Vec::new());
            for d in scope.desired.iter().filter(|d| d.key.kind == "consent") {
                let Some(email) = emails.get(&d.key.owner) else { continue };
                let Some((c, id)) = by_email.get(email) else { continue };
                let tenant = d.natural_key.values.get("tenant").cloned().unwrap_or_default();
                let found = c.tenants.iter().find(|t| t.name.eq_ignore_ascii_case(&tenant));
                let connected = found.is_some();
                let started = scope.bound.contains_key(&d.key);
                if !connected && !started {
                    continue; // no link sent yet: nothing to observe
                }
                let state = if connected {
                    ObjectState::Ready
                } else {
                    ObjectState::Pending(Pending {
                        what: format!("consent for {tenant} through the authorization link"),
                        since: None,
                        expected: None,
                        overdue: None,
                        by: crate::provider::Party::Customer,
                    })
                };
                let mut fields = BTreeMap::from([("tenant".to_string(), json!(tenant))]);
                // A connected tenant's environment: from the binding when tenantry recorded
                // applying it, else read (and a sample of the recorded ones read anyway).
                let at = found.map(|t| (id.clone(), t.id.clone().unwrap_or_else(|| t.name.clone())));
                if at.is_some() {
                    let applied = scope.bound.get(&d.key).map(|b| &b.applied);
                    let recorded: Option<Vec<(String, Json)>> =
                        ENVIRONMENT.iter().map(|f| applied?.get(*f).map(|v| (f.to_string(), v.clone()))).collect();
                    match recorded {
                        Some(r) => {
                            fields.extend(r);
                            trusted.push(consents.len());
                        }
                        None => read.push(consents.len()),
                    }
                } else {
                    // Pending: no tenant to read yet, so nothing is known at AvePoint. What is in
                    // progress is the link tenantry sent, whose environment its binding records:
                    // compared with that, as the planner compares a field it cannot read. A link
                    // whose environment was not recorded (sent before tenantry kept it) is, like
                    // an unrecorded create-only field, unknown and left alone until the tenant is
                    // consented and read; nothing of this goes into the binding.
                    let applied = scope.bound.get(&d.key).map(|b| &b.applied);
                    for f in ENVIRONMENT {
                        let sent =
                            applied.and_then(|a| a.get(f)).or_else(|| d.fields.get(f).and_then(|x| x.value.json()));
                        if let Some(v) = sent {
                            fields.insert(f.to_string(), v.clone());
                        }
                    }
                }
                let object = ObservedObject {
                    vendor: Vendor::Avepoint,
                    kind: "consent".into(),
                    id: id.clone(),
                    natural_key: BTreeMap::from([("tenant".to_string(), tenant.clone())]),
                    parent_id: Some(id.clone()),
                    marker: None,
                    fields,
                    version: None,
                    state,
                };
                consents.push((object, at));
            }
            let sample =
                rand::seq::index::sample(&mut rand::rng(), trusted.len(), trusted.len().min(VERIFY_PER_OBSERVE));
            read.extend(sample.into_iter().map(|s| trusted[s]));
            let jobs: Vec<(usize, String, String)> = read
                .iter()
                .filter_map(|i| consents[*i].1.clone().map(|(customer, tenant)| (*i, customer, tenant)))
                .collect();
            let infos: Vec<(usize, wire::TenantInfo)> = self
                .http
                .each(jobs, |(i, customer, tenant)| async move {
                    let req = Req::get(format!("{BASE}/customers/{customer}/tenants/{tenant}")).idempotent();
                    let info: wire::TenantInfo = self.ok(req).await?.decode()?;
                    Ok((i, info))
                })
                .await?;
            for (i, info) in infos {
                let fields = &mut consents[i].0.fields;
                fields.insert("aadEnvironment".into(), json!(info.aad_environment));
                fields.insert("platformEnvironmentType".into(), json!(info.platform_environment_type));
            }
            objects.extend(consents.into_iter().map(|(o, _)| o));
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
                "customer" => {
                    let email = d.natural_key.values.get("email").cloned().unwrap_or_default();
                    let customers: Vec<wire::Customer> = self.batch("/customers/batch").await?;
                    Ok(customers.iter().find(|c| c.owner_email.eq_ignore_ascii_case(&email)).map(|c| customer(c, 0)))
                }
                k if k.starts_with("service/") => {
                    let Some(parent) = parent_id else { return Ok(None) };
                    let name = d.natural_key.values.get("service").cloned().unwrap_or_default();
                    let req = Req::post(format!("{BASE}/customers/services/batch"))
                        .query("pageIndex", 1)
                        .query("pageSize", PAGE)
                        .json(json!({"customerId": parent}))
                        .idempotent();
                    let page: wire::Page<wire::Services> = self.ok(req).await?.decode()?;
                    let exists = page.data.iter().any(|c| c.products.iter().any(|p| p.service == name));
                    Ok(exists.then(|| ObservedObject {
                        vendor: Vendor::Avepoint,
                        kind: d.key.kind.clone(),
                        id: format!("{parent}/{}", k.trim_start_matches("service/")),
                        natural_key: d.natural_key.values.clone(),
                        parent_id: Some(parent.to_string()),
                        marker: None,
                        fields: BTreeMap::new(),
                        version: None,
                        state: ObjectState::Ready,
                    }))
                }
                // A consent link: issuing another is harmless, so nothing to look up.
                "consent" => Ok(None),
                other => Err(VendorError::new(
                    Vendor::Avepoint,
                    ErrorKind::Rejected,
                    format!("look up {}", d.title),
                    format!("tenantry cannot look up an AvePoint {other}"),
                )),
            }
        })
    }
}

impl VendorWriter for AvePoint {
    fn execute<'a>(&'a self, cx: &'a ActionContext<'a>) -> BoxFut<'a, Result<Outcome, VendorError>> {
        Box::pin(async move {
            let a = cx.action;
            let op = format!("{} {}", a.kind.word(), a.title);
            let fail = |kind, m: &str| VendorError::new(Vendor::Avepoint, kind, &op, m);
            let v = |f: &str| {
                a.object
                    .as_ref()
                    .and_then(|d| d.fields.get(f))
                    .and_then(|f| f.value.json())
                    .cloned()
                    .unwrap_or(Json::Null)
            };
            match (a.kind, a.key.kind.as_str()) {
                (ActionKind::Create, "customer") => {
                    let d = a.object.as_ref().ok_or_else(|| fail(ErrorKind::Rejected, "no object"))?;
                    let password = match d.fields.get("password").map(|f| &f.value) {
                        Some(FieldValue::Secret(r)) => {
                            cx.secrets.resolve(r).map_err(|e| fail(ErrorKind::Rejected, &e.to_string()))?
                        }
                        _ => return Err(fail(ErrorKind::Rejected, "no password")),
                    };
                    let mut body = json!({
                        "firstName": v("firstName"), "lastName": v("lastName"), "organizationName": v("organizationName"),
                        "registrationAccount": v("registrationAccount"), "password": password.expose_secret(),
                        "countryCode": v("countryCode"), "dataCenter": v("dataCenter"), "tags": v("tags"),
                        "managementMode": v("managementMode") == json!("partner"),
                    });
                    if !v("telephoneNumber").is_null() {
                        body["telephoneNumber"] = v("telephoneNumber");
                    }
                    let j: wire::Outcome =
                        self.ok(Req::post(format!("{BASE}/customers")).json(body)).await?.decode()?;
                    match j.status {
                        1 => Ok(Outcome { vendor_id: j.id, ..Outcome::default() }),
                        // Already there: success, once a lookup shows it is in this partner's list.
                        5..=7 => {
                            let email = v("registrationAccount");
                            let customers: Vec<wire::Customer> = self.batch("/customers/batch").await?;
                            match customers.iter().find(|c| Some(c.owner_email.as_str()) == email.as_str()) {
                                Some(c) => Ok(Outcome { vendor_id: Some(c.id.clone()), ..Outcome::default() }),
                                None => Err(fail(ErrorKind::Rejected, &format!("{email} is already an Elements customer of another partner (status 7)"))
                                    .with_hint("a customer can be connected to one Elements tenant only; ask the customer to disconnect first, or use another registration account")),
                            }
                        }
                        s => Err(fail(
                            ErrorKind::Rejected,
                            &format!("AvePoint refused the onboarding (status {s}: {})", onboard_status(s)),
                        )),
                    }
                }
                (ActionKind::Register, "consent") => {
                    let customer =
                        cx.parent_id.clone().ok_or_else(|| fail(ErrorKind::Rejected, "the customer has no id"))?;
                    let tenant = v("tenant").as_str().unwrap_or_default().to_string();
                    let renew = a.vendor_id.is_some();
                    let (path, body) = if v("platformEnvironmentType") == json!(4)
                        || v("accountType") == json!("googleSuperAdmin")
                    {
                        (
                            format!("{BASE}/customers/{customer}/tenants/{tenant}/apps/auth-link"),
                            json!({"consentMethod": 0, "isReAuth": renew, "aadEnvironment": v("aadEnvironment"), "platformEnvironmentType": v("platformEnvironmentType"),
                                   "productNames": ["PartnerTenantSettingManagement", "PartnerWorkspaceOnboarding"], "customRecipientEmails": v("recipients")}),
                        )
                    } else {
                        (
                            format!("{BASE}/customers/{customer}/tenants/{tenant}/auth-link"),
                            json!({"aadEnvironment": v("aadEnvironment"), "tenantFriendlyName": tenant, "tenantDescription": a.title, "customRecipientEmails": v("recipients")}),
                        )
                    };
                    // Another link is harmless: safe to send again.
                    // The answer's URL grants access to the consent: never quoted, even unreadable.
                    let req = Req::post(path).json(body).idempotent().secret_answer();
                    let j: wire::Link = self.ok(req).await?.decode()?;
                    // The link URL grants access to the customer's consent: remember only its id.
                    let link = j.id;
                    // The environment the link asks the tenant to consent in, for observing without
                    // a read per tenant.
                    let mut applied = BTreeMap::from([
                        ("linkId".to_string(), json!(link)),
                        ("pendingSince".to_string(), json!(cx.now.to_string())),
                    ]);
                    for f in ENVIRONMENT {
                        applied.insert(f.to_string(), v(f));
                    }
                    Ok(Outcome { vendor_id: Some(customer), applied, ..Outcome::default() })
                }
                (ActionKind::Create, kind) if kind.starts_with("service/") => {
                    let customer =
                        cx.parent_id.clone().ok_or_else(|| fail(ErrorKind::Rejected, "the customer has no id"))?;
                    let code = v("productCode").as_u64().ok_or_else(|| {
                        fail(ErrorKind::Rejected, "this product has no API code: it is a portal task")
                    })?;
                    let enterprise = v("licenseType") == json!("enterprise");
                    let seats = v("seats").as_u64().unwrap_or(0);
                    let mut body = json!({"product": code, "licenseType": if enterprise { 1 } else { 0 }});
                    if code == 2048 {
                        body["avepointStorageType"] = json!(0);
                        body["retentionYear"] = json!(v("retentionYears").as_u64().unwrap_or(1));
                    }
                    if enterprise {
                        let mut item = json!({"resource": v("resource"), "subscriptionSourceType": 1, "isSameAsPool": true, "userSeat": seats, "paymentType": 0});
                        if code == 2048 || code == 274 {
                            item["saleType"] = json!(0);
                            item["packageType"] = json!(0);
                            item["customerSize"] = json!(seats);
                        }
                        body["licenseItems"] = json!([item]);
                    }
                    let j: wire::Outcome = self
                        .ok(Req::post(format!("{BASE}/customers/{customer}/services")).json(body))
                        .await?
                        .decode()?;
                    let product = v("product");
                    let product = product.as_str().unwrap_or("the service");
                    match j.status {
                        // Added, or already there: converged.
                        1 | 7 | 12 | 16 => Ok(Outcome {
                            vendor_id: Some(format!("{customer}/{}", kind.trim_start_matches("service/"))),
                            ..Outcome::default()
                        }),
                        3 => Err(fail(
                            ErrorKind::Rejected,
                            &format!(
                                "the partner has no {} subscription in its pool for {product}",
                                v("resource").as_str().unwrap_or_default()
                            ),
                        )
                        .with_hint(
                            "buy or assign the subscription to your Elements partner pool, or use a trial licence",
                        )),
                        4 => Err(fail(
                            ErrorKind::Rejected,
                            &format!(
                                "not enough seats left in the partner pool ({}) for {seats} seats of {product}",
                                v("resource").as_str().unwrap_or_default()
                            ),
                        )
                        .with_hint("add seats to the pool or lower `seats` in the manifest")),
                        s @ (11 | 18) => Err(fail(
                            ErrorKind::Rejected,
                            &format!("the pool subscription for {product} expires too soon (status {s})"),
                        )),
                        s => Err(fail(ErrorKind::Rejected, &format!("AvePoint did not add {product} (status {s})"))),
                    }
                }
                (ActionKind::Adopt | ActionKind::Sync, _) => {
                    Ok(Outcome { vendor_id: a.vendor_id.clone(), ..Outcome::default() })
                }
                (kind, object) => Err(fail(
                    ErrorKind::Rejected,
                    &format!("AvePoint has no API to {} a {object}: it is a portal task", kind.word()),
                )),
            }
        })
    }
}

fn onboard_status(s: u64) -> &'static str {
    match s {
        2 => "failed",
        3 => "customer does not exist",
        4 => "failed to register",
        _ => "unknown status",
    }
}
