//! Datto REST v1 client: SaaS Protection clients and seats (read), seat licensing through
//! `bulkSeatChange` (write, at most 100 ids per call).

use std::collections::BTreeMap;

use base64::Engine;
use reqwest::header::{HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value as Json, json};

use super::http::{Auth, Http, Req, Resp};
use super::{
    ActionContext, BoxFut, DesiredObject, ErrorKind, ObjectState, Observation, ObserveScope, ObservedObject, Outcome,
    Pending, VendorError, VendorReader, VendorWriter,
};
use crate::core::ActionKind;
use crate::model::{Connection, Vendor};
use crate::secrets::Secrets;

mod wire {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Domain {
        pub saas_customer_id: u64,
        pub saas_customer_name: String,
        pub domain: String,
        pub seats_used: u64,
        pub product_type: String,
        pub external_subscription_id: String,
        pub retention_type: Option<String>,
        pub backup_stats: Option<Stats>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Stats {
        pub active_services_count: u64,
    }

    /// One seat's outcome in a `bulkSeatChange` answer.
    #[derive(Debug, Deserialize)]
    pub struct SeatResult {
        pub id: String,
        pub status: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Seat {
        pub seat_type: String,
        pub seat_state: String,
        pub remote_id: String,
        pub name: Option<String>,
    }
}

struct Basic(SecretString);

impl Auth for Basic {
    fn refused_hint(&self) -> String {
        "check connections.datto.publicKey and the secret key it references (Datto Partner Portal, Admin, Integrations, API keys)".into()
    }

    fn headers<'a>(&'a self, _http: &'a Http) -> BoxFut<'a, Result<Vec<(HeaderName, HeaderValue)>, VendorError>> {
        Box::pin(async move {
            let v = HeaderValue::from_str(&format!("Basic {}", self.0.expose_secret())).map_err(|_| {
                VendorError::new(
                    Vendor::Datto,
                    ErrorKind::Auth,
                    "credentials",
                    "the API keys are not valid header text",
                )
            })?;
            Ok(vec![(reqwest::header::AUTHORIZATION, v)])
        })
    }
}

pub struct Datto {
    http: Http,
    auth: Basic,
}

/// The Authorization header carries the keys: Basic base64(public:secret).
impl Datto {
    pub fn new(conn: &Connection, secrets: &Secrets) -> Result<Self, VendorError> {
        let secret = |role: &str| {
            let r = conn.secrets.get(role).ok_or_else(|| {
                VendorError::new(Vendor::Datto, ErrorKind::Auth, "connect", format!("no {role} configured"))
            })?;
            secrets.resolve(r).map_err(|e| VendorError::new(Vendor::Datto, ErrorKind::Auth, "connect", e.to_string()))
        };
        let (public, private) = (secret("publicKey")?, secret("secretKey")?);
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            public.expose_secret(),
            private.expose_secret()
        ));
        Ok(Datto {
            http: Http::new(Vendor::Datto, &conn.base_url, &conn.limits)?,
            auth: Basic(SecretString::from(encoded)),
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

    async fn domains(&self) -> Result<Vec<wire::Domain>, VendorError> {
        self.ok(Req::get("/saas/domains")).await?.decode()
    }

    async fn seats(&self, d: &wire::Domain) -> Result<ObservedObject, VendorError> {
        let resp = self.ok(Req::get(format!("/saas/{}/seats", d.saas_customer_id))).await?;
        let seats: Vec<wire::Seat> = resp.decode()?;
        let list: Vec<Json> = seats
            .iter()
            .map(|s| json!({"id": s.remote_id, "type": s.seat_type, "state": s.seat_state, "name": s.name}))
            .collect();
        Ok(ObservedObject {
            vendor: Vendor::Datto,
            kind: "seats".into(),
            id: d.saas_customer_id.to_string(),
            natural_key: BTreeMap::from([("domain".to_string(), d.domain.clone())]),
            parent_id: Some(d.saas_customer_id.to_string()),
            marker: None,
            fields: BTreeMap::from([
                ("seats".to_string(), Json::Array(list)),
                ("externalSubscriptionId".to_string(), json!(d.external_subscription_id)),
            ]),
            version: None,
            state: ObjectState::Ready,
        })
    }
}

fn client(d: &wire::Domain) -> ObservedObject {
    let authorized = d.seats_used > 0 || d.backup_stats.as_ref().is_some_and(|s| s.active_services_count > 0);
    let state = if authorized {
        ObjectState::Ready
    } else {
        ObjectState::Pending(Pending {
            what: "client authorization (the customer's global admin must authorize the backup)".into(),
            since: None,
            expected: None,
            overdue: None,
            by: crate::provider::Party::Customer,
        })
    };
    ObservedObject {
        vendor: Vendor::Datto,
        kind: "client".into(),
        id: d.saas_customer_id.to_string(),
        natural_key: BTreeMap::from([
            ("domain".to_string(), d.domain.clone()),
            ("product".to_string(), d.product_type.clone()),
        ]),
        parent_id: None,
        marker: None,
        fields: BTreeMap::from([
            ("clientName".to_string(), json!(d.saas_customer_name)),
            ("domain".to_string(), json!(d.domain)),
            ("productType".to_string(), json!(d.product_type)),
            ("retentionType".to_string(), json!(d.retention_type)),
            ("seatsUsed".to_string(), json!(d.seats_used)),
            ("externalSubscriptionId".to_string(), json!(d.external_subscription_id)),
        ]),
        version: None,
        state,
    }
}

fn error(op: &str, resp: &Resp) -> VendorError {
    #[derive(Deserialize)]
    struct E {
        code: Option<String>,
        message: Option<String>,
    }
    let e: Option<E> = serde_json::from_slice(&resp.body).ok();
    let message = e
        .map(|e| format!("{} ({})", e.message.unwrap_or_default(), e.code.unwrap_or_default()))
        .unwrap_or_else(|| format!("HTTP {}", resp.status.as_u16()));
    let kind = ErrorKind::from_status(resp.status.as_u16());
    let mut err = VendorError::new(Vendor::Datto, kind, op, message);
    if kind == ErrorKind::Auth {
        err = err.with_hint("check connections.datto publicKey and secretKey (Partner Portal › Admin › Integrations)");
    }
    err
}

impl VendorReader for Datto {
    fn vendor(&self) -> Vendor {
        Vendor::Datto
    }

    fn observe<'a>(&'a self, scope: &'a ObserveScope) -> BoxFut<'a, Result<Observation, VendorError>> {
        Box::pin(async move {
            let domains = self.domains().await?;
            let mut objects: Vec<ObservedObject> = domains.iter().map(client).collect();
            // Seats only where licensing is managed and the client is authorized: one call per
            // such client, never for strangers. Google clients too: their seats cannot be
            // licensed by API, but `seats` lists them with their state (providers.md 2.2).
            // Domains are matched without case, through a set: a list scanned for every client
            // made this quadratic (100 million comparisons an observe at 10,000 customers).
            let wanted: std::collections::HashSet<String> = scope
                .desired
                .iter()
                .filter(|d| d.key.kind == "seats")
                .filter_map(|d| d.natural_key.values.get("domain").map(|s| s.to_ascii_lowercase()))
                .collect();
            // Datto has no bulk seat read: the clients' seat lists are read side by side.
            let read: Vec<&wire::Domain> = domains
                .iter()
                .filter(|d| {
                    let authorized =
                        d.seats_used > 0 || d.backup_stats.as_ref().is_some_and(|s| s.active_services_count > 0);
                    authorized && wanted.contains(&d.domain.to_ascii_lowercase())
                })
                .collect();
            // By index: a closure over `&Domain` trips the compiler's higher-ranked lifetime
            // check on this boxed future (rust-lang/rust#64552).
            let read = &read;
            objects.extend(self.http.each(0..read.len(), |i| async move { self.seats(read[i]).await }).await?);
            Ok(Observation { objects, work: BTreeMap::new(), unreadable: BTreeMap::new() })
        })
    }

    fn lookup<'a>(
        &'a self,
        d: &'a DesiredObject,
        _parent_id: Option<&'a str>,
    ) -> BoxFut<'a, Result<Option<ObservedObject>, VendorError>> {
        Box::pin(async move {
            // Only clients are looked up; any other kind is an error, never "not found".
            if d.key.kind != "client" {
                return Err(VendorError::new(
                    Vendor::Datto,
                    ErrorKind::Rejected,
                    format!("look up {}", d.title),
                    format!("tenantry cannot look up a Datto {}", d.key.kind),
                ));
            }
            let domain = d.natural_key.values.get("domain").cloned().unwrap_or_default();
            let product = d.natural_key.values.get("product");
            let found = self
                .domains()
                .await?
                .into_iter()
                .find(|x| x.domain.eq_ignore_ascii_case(&domain) && product.is_none_or(|p| p == &x.product_type));
            Ok(found.map(|x| client(&x)))
        })
    }
}

impl VendorWriter for Datto {
    fn execute<'a>(&'a self, cx: &'a ActionContext<'a>) -> BoxFut<'a, Result<Outcome, VendorError>> {
        Box::pin(async move {
            let a = cx.action;
            let op = format!("{} {}", a.kind.word(), a.title);
            let fail = |kind, m: &str| VendorError::new(Vendor::Datto, kind, &op, m);
            match (a.kind, a.key.kind.as_str()) {
                (ActionKind::Sync | ActionKind::Adopt, "seats") => {
                    let id = a.vendor_id.clone().ok_or_else(|| fail(ErrorKind::Rejected, "no client id"))?;
                    let Some(license) = a.changes.iter().find(|c| c.field == "license").and_then(|c| c.after.clone())
                    else {
                        return Ok(Outcome { vendor_id: Some(id), ..Outcome::default() });
                    };
                    let domains = self.domains().await?;
                    let sub = domains
                        .iter()
                        .find(|d| d.saas_customer_id.to_string() == id)
                        .map(|d| d.external_subscription_id.clone())
                        .ok_or_else(|| fail(ErrorKind::NotFound, "the client is gone"))?;
                    let mut refused = Vec::new();
                    for (seat_type, ids) in license.as_object().into_iter().flatten() {
                        let ids: Vec<String> =
                            ids.as_array().into_iter().flatten().filter_map(Json::as_str).map(str::to_string).collect();
                        for chunk in ids.chunks(100) {
                            let path = format!("/saas/{id}/{}/bulkSeatChange", urlencode(&sub));
                            let body = json!({"seat_type": seat_type, "action_type": "License", "ids": chunk});
                            // Licensing an already licensed seat is a no-op: safe to repeat.
                            let resp = self.ok(Req::new(reqwest::Method::PUT, path).json(body)).await?;
                            let results: Vec<wire::SeatResult> = resp.decode()?;
                            refused.extend(results.into_iter().filter(|r| r.status != "Success").map(|r| r.id));
                        }
                    }
                    if !refused.is_empty() {
                        return Err(fail(
                            ErrorKind::Rejected,
                            &format!(
                                "Datto refused to license {} seat(s) ({}); the license cap is probably reached",
                                refused.len(),
                                refused.join(", ")
                            ),
                        ));
                    }
                    Ok(Outcome { vendor_id: Some(id), ..Outcome::default() })
                }
                (ActionKind::Adopt, _) => Ok(Outcome { vendor_id: a.vendor_id.clone(), ..Outcome::default() }),
                (kind, object) => Err(fail(
                    ErrorKind::Rejected,
                    &format!("Datto has no API to {} a {object}: it is a portal task", kind.word()),
                )),
            }
        })
    }
}

/// Percent-encode a path segment (the `:` of a subscription id).
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
