//! VMware SD-WAN Orchestrator API v1 client (`/portal/rest`, POST only, token auth).
//!
//! Observing costs three list calls (customers with their edges, gateway pools, operator
//! profiles with the customers using them), plus one analytics read for each managed customer
//! whose analytics tenantry has not applied itself (the VCO has no bulk read of it).

use std::collections::{BTreeMap, HashMap, HashSet};

use reqwest::header::{HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::{Value as Json, json};

use super::http::{Auth, Http, Req, Resp};
use super::{
    ActionContext, BoxFut, DesiredObject, ErrorKind, FieldValue, ObjectState, Observation, ObserveScope,
    ObservedObject, Outcome, VendorError, VendorReader, VendorWriter,
};
use crate::core::ActionKind;
use crate::model::{Connection, Vendor};
use crate::secrets::Secrets;

/// VCO API wire types: what tenantry reads. Unknown fields are accepted; a missing or mistyped
/// field tenantry relies on is an error.
mod wire {
    use serde::Deserialize;
    use serde_json::{Map, Value as Json};

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Enterprise {
        pub id: i64,
        pub name: String,
        #[serde(default)]
        pub gateway_pool_id: Option<i64>,
        #[serde(default)]
        pub account_number: Option<String>,
        #[serde(default)]
        pub modified: Option<String>,
        #[serde(default)]
        pub edges: Vec<Edge>,
        /// The site and contact fields, compared as the VCO gives them (`SITE`).
        #[serde(flatten)]
        pub other: Map<String, Json>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Edge {
        pub name: String,
        #[serde(default)]
        pub software_version: Option<String>,
    }

    /// A gateway pool or an operator profile, with the customers using it.
    #[derive(Debug, Deserialize)]
    pub struct Named {
        pub id: i64,
        pub name: String,
        #[serde(default)]
        pub enterprises: Vec<Id>,
    }

    #[derive(Debug, Deserialize)]
    pub struct Id {
        pub id: i64,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Analytics {
        pub analytics_capability: String,
    }

    /// The answer to a write: how many rows changed, and a new object's id.
    #[derive(Debug, Deserialize)]
    pub struct Written {
        #[serde(default)]
        pub id: Option<i64>,
        #[serde(default)]
        pub rows: Option<i64>,
    }
}

struct TokenAuth(SecretString);

impl Auth for TokenAuth {
    fn refused_hint(&self) -> String {
        "check the API token connections.velocloud.token references (VCO, Administration, API tokens): expired or revoked?".into()
    }

    fn headers<'a>(&'a self, _http: &'a Http) -> BoxFut<'a, Result<Vec<(HeaderName, HeaderValue)>, VendorError>> {
        Box::pin(async move {
            let v = HeaderValue::from_str(&format!("Token {}", self.0.expose_secret())).map_err(|_| {
                VendorError::new(Vendor::Velocloud, ErrorKind::Auth, "token", "the API token is not valid header text")
            })?;
            Ok(vec![(reqwest::header::AUTHORIZATION, v)])
        })
    }
}

pub struct VeloCloud {
    http: Http,
    auth: TokenAuth,
    /// Edge licence ids by name (`license:<name>`), from tenantry.yaml.
    ids: BTreeMap<String, String>,
}

const SITE: &[&str] = &[
    "streetAddress",
    "city",
    "state",
    "postalCode",
    "country",
    "contactName",
    "contactEmail",
    "contactPhone",
    "contactMobile",
];

/// Reference data: names of gateway pools and operator profiles by id.
struct Catalog {
    pools: BTreeMap<i64, String>,
    profiles: BTreeMap<i64, String>,
    /// Enterprise id -> names of the profiles assigned to it.
    assigned: BTreeMap<i64, Vec<String>>,
}

impl VeloCloud {
    pub fn new(conn: &Connection, secrets: &Secrets) -> Result<Self, VendorError> {
        let token = conn
            .secrets
            .get("token")
            .ok_or_else(|| VendorError::new(Vendor::Velocloud, ErrorKind::Auth, "connect", "no token configured"))?;
        let token = secrets
            .resolve(token)
            .map_err(|e| VendorError::new(Vendor::Velocloud, ErrorKind::Auth, "connect", e.to_string()))?;
        Ok(VeloCloud {
            http: Http::new(Vendor::Velocloud, &conn.base_url, &conn.limits)?.with_refusals(refused),
            auth: TokenAuth(token),
            ids: conn.ids.clone(),
        })
    }

    /// Call a method: its answer, once it is neither an error status nor a 200 carrying an
    /// error. Reads are safe to repeat; writes are not (the VCO has no idempotency key).
    async fn answer(&self, method: &str, params: Json, read: bool) -> Result<Resp, VendorError> {
        let mut req = Req::post(format!("/{method}")).json(params);
        if read {
            req = req.idempotent();
        }
        let resp = self.http.send(&req, Some(&self.auth)).await?;
        if !resp.status.is_success() {
            return Err(error(method, &resp));
        }
        // A 200 may still carry an error.
        if let Some(msg) = resp.error_json().get("error").and_then(Json::as_str) {
            return Err(VendorError::new(Vendor::Velocloud, ErrorKind::Rejected, method, msg));
        }
        Ok(resp)
    }

    /// A read method's answer, decoded.
    async fn read<T: DeserializeOwned>(&self, method: &str, params: Json) -> Result<T, VendorError> {
        self.answer(method, params, true).await?.decode()
    }

    /// A write method: an error when it reports nothing done.
    async fn call(&self, method: &str, params: Json) -> Result<wire::Written, VendorError> {
        let w: wire::Written = self.answer(method, params, false).await?.decode()?;
        if w.rows == Some(0) {
            return Err(VendorError::new(
                Vendor::Velocloud,
                ErrorKind::Rejected,
                method,
                "the VCO changed nothing (rows: 0)",
            ));
        }
        Ok(w)
    }

    async fn catalog(&self) -> Result<Catalog, VendorError> {
        let (pools, profiles): (Vec<wire::Named>, Vec<wire::Named>) = tokio::try_join!(
            self.read("enterpriseProxy/getEnterpriseProxyGatewayPools", json!({})),
            self.read("enterpriseProxy/getEnterpriseProxyOperatorProfiles", json!({"with": ["enterprises"]})),
        )?;
        let mut c = Catalog { pools: BTreeMap::new(), profiles: BTreeMap::new(), assigned: BTreeMap::new() };
        for p in pools {
            c.pools.insert(p.id, p.name);
        }
        for p in profiles {
            for e in &p.enterprises {
                c.assigned.entry(e.id).or_default().push(p.name.clone());
            }
            c.profiles.insert(p.id, p.name);
        }
        Ok(c)
    }

    async fn enterprises(&self) -> Result<Vec<wire::Enterprise>, VendorError> {
        self.read("enterpriseProxy/getEnterpriseProxyEnterprises", json!({"with": ["edges"]})).await
    }

    fn observed(&self, e: &wire::Enterprise, catalog: &Catalog, analytics: Option<bool>) -> ObservedObject {
        let id = e.id;
        let name = e.name.clone();
        let text = |k: &str| e.other.get(k).cloned().filter(|v| !v.is_null() && v != "").unwrap_or(Json::Null);
        let mut fields = BTreeMap::new();
        fields.insert("name".to_string(), json!(name));
        fields.insert("accountNumber".to_string(), json!(e.account_number.clone().filter(|a| !a.is_empty())));
        for k in ["domain"].iter().chain(SITE) {
            fields.insert(k.to_string(), text(k));
        }
        let pool = e.gateway_pool_id.and_then(|p| catalog.pools.get(&p).cloned());
        fields.insert("gatewayPool".into(), json!(pool));
        let mut images = catalog.assigned.get(&id).cloned().unwrap_or_default();
        images.sort();
        fields.insert("softwareImages".into(), json!(images));
        if let Some(a) = analytics {
            fields.insert("analytics".into(), json!(a));
        }
        let mut in_use: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for edge in &e.edges {
            if let Some(v) = &edge.software_version {
                in_use.entry(v.clone()).or_default().push(edge.name.clone());
            }
        }
        fields.insert("imagesInUse".into(), json!(in_use));
        let account = e.account_number.clone().filter(|a| !a.is_empty());
        ObservedObject {
            vendor: Vendor::Velocloud,
            kind: "enterprise".into(),
            id: id.to_string(),
            natural_key: BTreeMap::from([("name".to_string(), name)]),
            parent_id: None,
            marker: account,
            fields,
            version: e.modified.clone(),
            state: ObjectState::Ready,
        }
    }

    async fn analytics(&self, id: i64) -> Result<bool, VendorError> {
        let a: wire::Analytics = self.read("enterprise/getAnalyticsConfiguration", json!({"enterpriseId": id})).await?;
        Ok(a.analytics_capability != "NONE")
    }

    fn license_ids(&self, names: &Json) -> Result<Vec<u64>, VendorError> {
        names
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Json::as_str)
            .map(|n| {
                n.parse::<u64>()
                    .ok()
                    .or_else(|| self.ids.get(&format!("license:{n}")).and_then(|id| id.parse().ok()))
                    .ok_or_else(|| {
                        VendorError::new(Vendor::Velocloud, ErrorKind::Rejected, "resolve edge licence", format!("no id for edge licence `{n}`"))
                            .with_hint("add it to connections.velocloud.edgeLicenses in tenantry.yaml (name: id); VCO API v1 cannot list licences")
                    })
            })
            .collect()
    }

    /// Image names -> operator profile ids, the default first.
    fn image_ids(catalog: &Catalog, images: &Json, default: Option<&str>) -> Result<Vec<i64>, VendorError> {
        let mut names: Vec<&str> = images.as_array().into_iter().flatten().filter_map(Json::as_str).collect();
        if let Some(d) = default {
            names.sort_by_key(|n| *n != d);
        }
        names.iter().map(|n| profile_id(catalog, n)).collect()
    }
}

fn profile_id(catalog: &Catalog, name: &str) -> Result<i64, VendorError> {
    catalog.profiles.iter().find(|(_, n)| n.as_str() == name).map(|(id, _)| *id).ok_or_else(|| {
        VendorError::new(
            Vendor::Velocloud,
            ErrorKind::Rejected,
            "resolve operator profile",
            format!("the VCO has no operator profile (software image) named `{name}`"),
        )
        .with_hint("check the name in the VCO (Configure › Operator Profiles) or in the manifest")
    })
}

fn pool_id(catalog: &Catalog, name: &str) -> Result<i64, VendorError> {
    catalog.pools.iter().find(|(_, n)| n.as_str() == name).map(|(id, _)| *id).ok_or_else(|| {
        VendorError::new(
            Vendor::Velocloud,
            ErrorKind::Rejected,
            "resolve gateway pool",
            format!("the VCO has no gateway pool named `{name}`"),
        )
    })
}

/// VCO messages that mean "no, and nothing was done", though they come with HTTP 500.
const REFUSALS: [&str; 3] = ["disableCreateEnterprise", "creation of customers is disabled", "already exists"];

/// Whether a 5xx answer is one of the VCO's definitive refusals (see [`REFUSALS`]).
fn refused(resp: &Resp) -> bool {
    let j = resp.error_json();
    j.pointer("/error/message").and_then(Json::as_str).is_some_and(|m| REFUSALS.iter().any(|r| m.contains(r)))
}

fn error(method: &str, resp: &Resp) -> VendorError {
    let j = resp.error_json();
    let message = j
        .pointer("/error/message")
        .and_then(Json::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("HTTP {}", resp.status.as_u16()));
    // Only refusals reach here (server failures are retried before): the VCO answers its
    // business errors with 500 and a JSON-RPC error, which `ErrorKind::from_status` would read
    // as a failure to retry.
    let kind = match resp.status.as_u16() {
        401 | 403 => ErrorKind::Auth,
        _ if message.contains("does not exist") => ErrorKind::NotFound,
        _ => ErrorKind::Rejected,
    };
    let mut e = VendorError::new(Vendor::Velocloud, kind, method, message.clone());
    if message.contains("disableCreateEnterprise") || message.contains("creation of customers is disabled") {
        e.message = "the VCO operator has disabled customer creation for this partner".into();
        e.hint = Some("ask your VCO operator to allow customer creation for your partner account (the session.options.disableCreateEnterprise setting)".into());
    } else if kind == ErrorKind::Auth {
        e.hint = Some("check connections.velocloud.token: the API token may be revoked or expired".into());
    }
    e
}

impl VendorReader for VeloCloud {
    fn vendor(&self) -> Vendor {
        Vendor::Velocloud
    }

    fn observe<'a>(&'a self, scope: &'a ObserveScope) -> BoxFut<'a, Result<Observation, VendorError>> {
        Box::pin(async move {
            let (list, catalog) = tokio::try_join!(self.enterprises(), self.catalog())?;
            // Analytics is in no list (VCO v1 has no bulk read). What tenantry applied is in the
            // binding; only a customer it never applied analytics to is read, one call each, so
            // a converged partner costs the three list calls whatever its size. (A change made
            // in the portal afterwards is not seen: the README says so.)
            let applied: HashMap<&str, bool> = scope
                .bound
                .values()
                .filter_map(|b| b.applied.get("analytics").and_then(Json::as_bool).map(|a| (b.vendor_id.as_str(), a)))
                .collect();
            let bound: HashSet<&str> = scope.bound.values().map(|b| b.vendor_id.as_str()).collect();
            let names: HashSet<String> = scope
                .desired
                .iter()
                .filter_map(|d| d.natural_key.values.get("name").map(|n| n.to_ascii_lowercase()))
                .collect();
            let ids: Vec<String> = list.iter().map(|e| e.id.to_string()).collect();
            let unread: Vec<i64> = list
                .iter()
                .zip(&ids)
                .filter(|(e, id)| {
                    let ours = bound.contains(id.as_str()) || names.contains(&e.name.to_ascii_lowercase());
                    ours && !applied.contains_key(id.as_str())
                })
                .map(|(e, _)| e.id)
                .collect();
            let read: HashMap<i64, bool> = self
                .http
                .each(unread, |id| async move { self.analytics(id).await.map(|a| (id, a)) })
                .await?
                .into_iter()
                .collect();
            let mut objects = Vec::new();
            for (e, id) in list.iter().zip(&ids) {
                let analytics = applied.get(id.as_str()).or_else(|| read.get(&e.id)).copied();
                objects.push(self.observed(e, &catalog, analytics));
            }
            Ok(Observation { objects, work: BTreeMap::new() })
        })
    }

    fn lookup<'a>(
        &'a self,
        d: &'a DesiredObject,
        _parent_id: Option<&'a str>,
    ) -> BoxFut<'a, Result<Option<ObservedObject>, VendorError>> {
        Box::pin(async move {
            // Only enterprises are looked up; any other kind is an error, never "not found".
            if d.key.kind != "enterprise" {
                return Err(VendorError::new(
                    Vendor::Velocloud,
                    ErrorKind::Rejected,
                    format!("look up {}", d.title),
                    format!("tenantry cannot look up a VeloCloud {}", d.key.kind),
                ));
            }
            let name = d.natural_key.values.get("name").cloned().unwrap_or_default();
            let account = d.marker.clone().unwrap_or_default();
            let list = self.enterprises().await?;
            let found = list.iter().find(|e| {
                e.name.eq_ignore_ascii_case(&name)
                    || (!account.is_empty() && e.account_number.as_deref() == Some(account.as_str()))
            });
            match found {
                Some(e) => {
                    let catalog = self.catalog().await?;
                    Ok(Some(self.observed(e, &catalog, None)))
                }
                None => Ok(None),
            }
        })
    }
}

impl VendorWriter for VeloCloud {
    fn execute<'a>(&'a self, cx: &'a ActionContext<'a>) -> BoxFut<'a, Result<Outcome, VendorError>> {
        Box::pin(async move {
            let a = cx.action;
            let op = format!("{} {}", a.kind.word(), a.title);
            let fail = |m: &str| VendorError::new(Vendor::Velocloud, ErrorKind::Rejected, &op, m);
            match a.kind {
                ActionKind::Create => {
                    let d = a.object.as_ref().ok_or_else(|| fail("no object"))?;
                    let v = |f: &str| d.fields.get(f).and_then(|f| f.value.json()).cloned().unwrap_or(Json::Null);
                    let catalog = self.catalog().await?;
                    let password = match d.fields.get("adminPassword").map(|f| &f.value) {
                        Some(FieldValue::Secret(r)) => cx.secrets.resolve(r).map_err(|e| fail(&e.to_string()))?,
                        _ => return Err(fail("no admin password")),
                    };
                    let images = Self::image_ids(&catalog, &v("softwareImages"), v("defaultImage").as_str())?;
                    let pool = pool_id(&catalog, v("gatewayPool").as_str().unwrap_or_default())?;
                    let mut body = json!({
                        "name": v("name"),
                        "domain": v("domain"),
                        "accountNumber": v("accountNumber"),
                        "gatewayPoolId": pool,
                        // The API defaults differ from the portal's: write every flag explicitly.
                        "enableEnterpriseDelegationToProxy": v("partnerSupportAccess"),
                        "enableEnterpriseDelegationToOperator": v("vmwareSupportAccess"),
                        "enableEnterpriseUserManagementDelegationToOperator": v("vmwareUserManagementAccess"),
                        "delegateEdgeImageManagementToEnterprise": v("manageSoftwareImages"),
                        "assignedOperatorProfileConfigurationIds": images,
                        "licenses": {"ids": self.license_ids(&v("edgeLicenses"))?},
                        "analyticsConfiguration": {"analyticsCapability": if v("analytics") == json!(true) { "APPLICATION_BRANCH" } else { "NONE" }},
                    });
                    for k in SITE {
                        let val = v(k);
                        if !val.is_null() {
                            body[*k] = val;
                        }
                    }
                    let configuration = v("configuration");
                    // The initial administrator as the VCO's `new_user_abstract` names its fields.
                    let mut user = json!({"username": v("adminUsername"), "password": password.expose_secret(), "email": v("contactEmail")});
                    for (ours, theirs) in [
                        ("adminFirstName", "firstName"),
                        ("adminLastName", "lastName"),
                        ("adminPhone", "officePhone"),
                        ("adminMobile", "mobilePhone"),
                    ] {
                        let val = v(ours);
                        if !val.is_null() {
                            user[theirs] = val;
                        }
                    }
                    let (method, id) = if let Some(source) = configuration.get("cloneFrom").and_then(Json::as_str) {
                        let list = self.enterprises().await?;
                        let src =
                            list.iter().find(|e| e.name.eq_ignore_ascii_case(source)).map(|e| e.id).ok_or_else(
                                || fail(&format!("the customer to clone, {source}, is not on the VCO yet")),
                            )?;
                        body["id"] = json!(src);
                        body["configurationId"] = json!(images.first().copied().unwrap_or(0));
                        body["user"] = user;
                        let r = self.call("enterprise/cloneEnterpriseV2", body).await?;
                        ("enterprise/cloneEnterpriseV2", r.id)
                    } else {
                        let config = match (
                            configuration.get("profile").and_then(Json::as_str),
                            configuration.get("configurationId").and_then(Json::as_i64),
                        ) {
                            (Some(name), _) => profile_id(&catalog, name)?,
                            (_, Some(id)) => id,
                            _ => return Err(fail("no configuration")),
                        };
                        body["configurationId"] = json!(config);
                        body["user"] = user;
                        let r = self.call("enterpriseProxy/insertEnterpriseProxyEnterprise", body).await?;
                        ("enterpriseProxy/insertEnterpriseProxyEnterprise", r.id)
                    };
                    let id = id.ok_or_else(|| {
                        VendorError::new(
                            Vendor::Velocloud,
                            ErrorKind::Unknown,
                            method,
                            "the VCO answered without an id",
                        )
                    })?;
                    Ok(Outcome {
                        vendor_id: Some(id.to_string()),
                        applied: BTreeMap::from([("analytics".to_string(), v("analytics"))]),
                        ..Outcome::default()
                    })
                }
                ActionKind::Sync | ActionKind::Adopt => {
                    let id: i64 =
                        a.vendor_id.as_deref().and_then(|i| i.parse().ok()).ok_or_else(|| fail("no enterprise id"))?;
                    let mut update = serde_json::Map::new();
                    let catalog = if a
                        .changes
                        .iter()
                        .any(|c| matches!(c.field.as_str(), "gatewayPool" | "softwareImages" | "defaultImage"))
                    {
                        Some(self.catalog().await?)
                    } else {
                        None
                    };
                    let wanted = |f: &str| {
                        a.object
                            .as_ref()
                            .and_then(|d| d.fields.get(f))
                            .and_then(|f| f.value.json())
                            .cloned()
                            .unwrap_or(Json::Null)
                    };
                    for c in &a.changes {
                        let after = c.after.clone().unwrap_or(Json::Null);
                        match c.field.as_str() {
                            "name" | "domain" | "accountNumber" => {
                                update.insert(c.field.clone(), after);
                            }
                            f if SITE.contains(&f) => {
                                update.insert(c.field.clone(), after);
                            }
                            "gatewayPool" => {
                                if let Some(cat) = &catalog {
                                    update.insert(
                                        "gatewayPoolId".into(),
                                        json!(pool_id(cat, after.as_str().unwrap_or_default())?),
                                    );
                                }
                            }
                            "softwareImages" | "defaultImage" => {
                                if let Some(cat) = &catalog {
                                    let ids = Self::image_ids(
                                        cat,
                                        &wanted("softwareImages"),
                                        wanted("defaultImage").as_str(),
                                    )?;
                                    update.insert("assignedOperatorProfileConfigurationIds".into(), json!(ids));
                                }
                            }
                            "edgeLicenses" => {
                                update.insert("licenses".into(), json!({"ids": self.license_ids(&after)?}));
                            }
                            "partnerSupportAccess" => {
                                self.call(
                                    "role/setEnterpriseDelegatedToEnterpriseProxy",
                                    json!({"enterpriseId": id, "isDelegated": after}),
                                )
                                .await?;
                            }
                            "vmwareSupportAccess" => {
                                self.call(
                                    "role/setEnterpriseDelegatedToOperator",
                                    json!({"enterpriseId": id, "isDelegated": after}),
                                )
                                .await?;
                            }
                            "vmwareUserManagementAccess" => {
                                self.call(
                                    "role/setEnterpriseUserManagementDelegatedToOperator",
                                    json!({"enterpriseId": id, "isDelegated": after}),
                                )
                                .await?;
                            }
                            "manageSoftwareImages" => {
                                self.call(
                                    "enterprise/updateEdgeImageManagement",
                                    json!({"enterpriseId": id, "edgeImageManagement": after}),
                                )
                                .await?;
                            }
                            "analytics" => {
                                let capability = if after == json!(true) { "APPLICATION_BRANCH" } else { "NONE" };
                                self.call(
                                    "enterprise/insertOrUpdateAnalyticsConfiguration",
                                    json!({"enterpriseId": id, "analyticsCapability": capability}),
                                )
                                .await?;
                            }
                            _ => {}
                        }
                    }
                    if !update.is_empty() {
                        // Setting the same values again is harmless: safe to repeat.
                        let req = Req::post("/enterprise/updateEnterprise")
                            .json(json!({"enterpriseId": id, "_update": update}))
                            .idempotent();
                        let resp = self.http.send(&req, Some(&self.auth)).await?;
                        if !resp.status.is_success() {
                            return Err(error("enterprise/updateEnterprise", &resp));
                        }
                    }
                    // What analytics now is, for observing without a read per customer.
                    let applied = a
                        .changes
                        .iter()
                        .filter(|c| c.field == "analytics")
                        .map(|c| ("analytics".to_string(), c.after.clone().unwrap_or(Json::Null)))
                        .collect();
                    Ok(Outcome { vendor_id: Some(id.to_string()), applied, ..Outcome::default() })
                }
                ActionKind::Delete => {
                    let id: i64 =
                        a.vendor_id.as_deref().and_then(|i| i.parse().ok()).ok_or_else(|| fail("no enterprise id"))?;
                    self.call("enterprise/deleteEnterprise", json!({"enterpriseId": id})).await?;
                    Ok(Outcome { vendor_id: Some(id.to_string()), ..Outcome::default() })
                }
                kind => Err(fail(&format!("tenantry cannot {} a VeloCloud object", kind.word()))),
            }
        })
    }
}
