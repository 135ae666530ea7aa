//! VMware SD-WAN Orchestrator API v1 client (`/portal/rest`, POST only, token auth).
//!
//! Observing costs three list calls (customers with their edges, gateway pools, operator
//! profiles with the customers using them). What only per-customer reads report (analytics,
//! the operator profile and default image, the configuration profiles) is read for each managed
//! customer whose values tenantry has not recorded applying, and for a random sample of
//! [`VERIFY_PER_OBSERVE`] of the others; the rest come from their bindings (see `observe`).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use reqwest::header::{HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::{Value as Json, json};

use super::http::{Auth, Http, Req, Resp};
use super::{
    ActionContext, BoxFut, DesiredObject, ErrorKind, FieldValue, ObjectKey, ObjectState, Observation, ObserveScope,
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

    /// An enterprise configuration profile (`enterprise_get_enterprise_configurations_result_
    /// item`) or an operator profile (`model_configuration`).
    #[derive(Debug, Clone, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Configuration {
        pub id: i64,
        pub name: String,
        #[serde(default)]
        pub description: Option<String>,
        #[serde(default)]
        pub is_staging: Option<i64>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Analytics {
        pub analytics_capability: String,
    }

    /// A user of a customer (`enterprise_get_enterprise_users_result_item`).
    #[derive(Debug, Clone, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct User {
        pub id: i64,
        pub username: String,
        #[serde(default)]
        pub first_name: Option<String>,
        #[serde(default)]
        pub last_name: Option<String>,
        #[serde(default)]
        pub office_phone: Option<String>,
        #[serde(default)]
        pub mobile_phone: Option<String>,
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

/// How many bound customers each observe re-reads the per-customer values of (picked at
/// random), to catch changes made in the VCO portal; below this many, every observe reads all.
pub const VERIFY_PER_OBSERVE: usize = 20;

/// What the per-customer reads must answer for one desired customer.
#[derive(Debug, Clone)]
struct Need {
    /// The desired customer's key.
    key: ObjectKey,
    /// The declared default image, if any (an undeclared one is not compared).
    default_image: bool,
    /// The declared configuration: `{profile}`, `{configurationId}` or `{cloneFrom}`.
    configuration: Json,
    /// For a clone, the source customer's enterprise (its binding names it even when it was
    /// renamed in the portal).
    source_key: Option<ObjectKey>,
    /// The declared initial administrator's username.
    admin_username: Option<String>,
}

impl Need {
    fn of(d: &DesiredObject) -> Need {
        let v = |f: &str| d.fields.get(f).and_then(|f| f.value.json()).cloned().unwrap_or(Json::Null);
        let source_key = d
            .depends_on
            .iter()
            .find(|dep| {
                dep.key.vendor == Vendor::Velocloud && dep.key.kind == "enterprise" && dep.key.owner != d.key.owner
            })
            .map(|dep| dep.key.clone());
        Need {
            key: d.key.clone(),
            default_image: !v("defaultImage").is_null(),
            configuration: v("configuration"),
            source_key,
            admin_username: v("adminUsername").as_str().map(str::to_string),
        }
    }

    fn source(&self) -> Option<&str> {
        self.configuration.get("cloneFrom").and_then(Json::as_str)
    }

    /// The fields these reads give, by name.
    fn fields(&self) -> Vec<&'static str> {
        let mut f = vec!["analytics", "configuration"];
        f.extend(ADMIN.iter().map(|(ours, _)| *ours));
        if self.default_image {
            f.push("defaultImage");
        }
        f
    }

    /// What tenantry recorded applying for all of them, if it did.
    fn recorded(&self, applied: &BTreeMap<String, Json>) -> Option<BTreeMap<String, Json>> {
        self.fields().into_iter().map(|f| applied.get(f).map(|v| (f.to_string(), v.clone()))).collect()
    }
}

/// What the per-customer reads answered.
#[derive(Debug, Default)]
struct Details {
    analytics: bool,
    /// The operator profile the customer was created with (`getEnterpriseOperatorConfiguration`).
    operator: Option<wire::Configuration>,
    /// Its default image (`getEnterpriseDefaultOperatorConfiguration`).
    default_image: Option<String>,
    /// Its configuration profiles (`getEnterpriseConfigurations`).
    configurations: Vec<wire::Configuration>,
    /// Its initial administrator, among its users (`getEnterpriseUsers`).
    admin: Option<wire::User>,
}

impl Details {
    /// The observed fields, in the form the manifest declares them: the configuration as the
    /// profile name or id it was created with, or, for a clone, the source's name when the
    /// customer holds a copy (same name and description) of one of the source's profiles.
    fn fields(&self, need: &Need, source: Option<&[wire::Configuration]>) -> BTreeMap<String, Json> {
        let mut out = BTreeMap::from([("analytics".to_string(), json!(self.analytics))]);
        let c = &need.configuration;
        let configuration = if let Some(name) = need.source() {
            let copy = |a: &wire::Configuration, b: &wire::Configuration| {
                a.name == b.name && a.description.as_deref().unwrap_or("") == b.description.as_deref().unwrap_or("")
            };
            let cloned = source.is_some_and(|src| self.configurations.iter().any(|m| src.iter().any(|s| copy(m, s))));
            if cloned {
                json!({"cloneFrom": name})
            } else {
                json!({"profiles": self.configurations.iter().map(|c| c.name.clone()).collect::<Vec<_>>()})
            }
        } else if c.get("configurationId").is_some() {
            json!({"configurationId": self.operator.as_ref().map(|o| o.id)})
        } else {
            json!({"profile": self.operator.as_ref().map(|o| o.name.clone())})
        };
        out.insert("configuration".into(), configuration);
        let admin = self.admin.as_ref();
        let text = |v: Option<&String>| json!(v.filter(|v| !v.is_empty()));
        out.insert("adminUsername".into(), json!(admin.map(|a| a.username.clone())));
        out.insert("adminFirstName".into(), text(admin.and_then(|a| a.first_name.as_ref())));
        out.insert("adminLastName".into(), text(admin.and_then(|a| a.last_name.as_ref())));
        out.insert("adminPhone".into(), text(admin.and_then(|a| a.office_phone.as_ref())));
        out.insert("adminMobile".into(), text(admin.and_then(|a| a.mobile_phone.as_ref())));
        if need.default_image {
            out.insert("defaultImage".into(), json!(self.default_image));
        }
        out
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

/// The initial administrator's fields, and the names `enterprise_user_update_enterprise_user`
/// (and `new_user_abstract`) give them; `adminUsername` is not updatable.
const ADMIN: &[(&str, &str)] = &[
    ("adminUsername", "username"),
    ("adminFirstName", "firstName"),
    ("adminLastName", "lastName"),
    ("adminPhone", "officePhone"),
    ("adminMobile", "mobilePhone"),
];

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

    fn observed(&self, e: &wire::Enterprise, catalog: &Catalog, details: BTreeMap<String, Json>) -> ObservedObject {
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
        fields.extend(details);
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

    async fn configurations(&self, id: i64) -> Result<Vec<wire::Configuration>, VendorError> {
        self.read("enterprise/getEnterpriseConfigurations", json!({"enterpriseId": id})).await
    }

    /// The customer's initial administrator: the user named `username` (the declared one), else
    /// its first user (the creation call creates it before any other), so a user renamed in the
    /// portal shows as a changed username rather than as a missing administrator.
    async fn admin(&self, id: i64, username: Option<&str>) -> Result<Option<wire::User>, VendorError> {
        let users: Vec<wire::User> = self.read("enterprise/getEnterpriseUsers", json!({"enterpriseId": id})).await?;
        let named = username.and_then(|n| users.iter().find(|u| u.username.eq_ignore_ascii_case(n)));
        Ok(named.or_else(|| users.iter().min_by_key(|u| u.id)).cloned())
    }

    /// The per-customer reads one customer needs (the VCO has no bulk read of any of them).
    /// `only_image`: the one image the operator profile list shows assigned to it, which is
    /// then its default (the default is one of the customer's images, providers.md 3.3).
    async fn details(&self, id: i64, need: &Need, only_image: Option<String>) -> Result<Details, VendorError> {
        let by_id = json!({"enterpriseId": id});
        let mut d = Details {
            analytics: self.analytics(id).await?,
            admin: self.admin(id, need.admin_username.as_deref()).await?,
            ..Details::default()
        };
        if need.source().is_some() {
            d.configurations = self.configurations(id).await?;
        } else {
            d.operator = Some(self.read("enterprise/getEnterpriseOperatorConfiguration", by_id.clone()).await?);
        }
        if need.default_image && only_image.is_some() {
            d.default_image = only_image;
        } else if need.default_image {
            let p: wire::Configuration =
                self.read("enterprise/getEnterpriseDefaultOperatorConfiguration", by_id).await?;
            d.default_image = Some(p.name);
        }
        Ok(d)
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

/// A per-customer read's error, naming the customer. One failed read still fails the whole
/// observe (the VCO is then unavailable for the run): leaving that customer out would make it
/// look absent, and a plan could then create it again; taking its recorded values would claim
/// a check that did not happen.
fn of_customer(mut e: VendorError, name: &str, id: i64) -> VendorError {
    e.operation = format!("{} for customer \"{name}\" (id {id})", e.operation);
    e
}

/// The customer's image when exactly one is assigned to it.
fn only_image(catalog: &Catalog, id: i64) -> Option<String> {
    match catalog.assigned.get(&id).map(Vec::as_slice) {
        Some([one]) => Some(one.clone()),
        _ => None,
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
            // Analytics, the operator profile, the default image and the configuration profiles
            // are in no list (VCO v1 has only per-customer reads of them). A managed customer
            // is read when tenantry has not recorded applying all of them (new to it, adopted,
            // or bound before they were recorded), and a random sample of VERIFY_PER_OBSERVE of
            // the others is read each time to catch changes made in the portal; the rest come
            // from their bindings. A converged partner costs the three list calls plus the
            // sample, whatever its size.
            let desired: HashMap<&ObjectKey, &DesiredObject> =
                scope.desired.iter().filter(|d| d.key.kind == "enterprise").map(|d| (&d.key, d.as_ref())).collect();
            let by_name: HashMap<String, &DesiredObject> = desired
                .values()
                .filter_map(|d| d.natural_key.values.get("name").map(|n| (n.to_ascii_lowercase(), *d)))
                .collect();
            let bound: HashMap<&str, (&BTreeMap<String, Json>, Option<&DesiredObject>)> = scope
                .bound
                .iter()
                .filter(|(k, _)| k.kind == "enterprise")
                .map(|(k, b)| (b.vendor_id.as_str(), (&b.applied, desired.get(k).copied())))
                .collect();
            let ids: Vec<String> = list.iter().map(|e| e.id.to_string()).collect();
            let mut details: Vec<BTreeMap<String, Json>> = vec![BTreeMap::new(); list.len()];
            let mut needs: Vec<Option<Need>> = Vec::with_capacity(list.len());
            let (mut read, mut trusted) = (Vec::new(), Vec::new());
            for (i, (e, id)) in list.iter().zip(&ids).enumerate() {
                let (applied, d) = match bound.get(id.as_str()) {
                    Some((applied, d)) => (Some(*applied), *d),
                    None => (None, by_name.get(&e.name.to_ascii_lowercase()).copied()),
                };
                let Some(d) = d else {
                    // Bound but no longer declared: what was recorded, nothing read.
                    if let Some(a) = applied.and_then(|a| a.get("analytics")) {
                        details[i].insert("analytics".into(), a.clone());
                    }
                    needs.push(None);
                    continue;
                };
                let need = Need::of(d);
                match applied.and_then(|a| need.recorded(a)).filter(|_| !scope.verify.contains(&d.key)) {
                    Some(recorded) => {
                        details[i] = recorded;
                        trusted.push(i);
                    }
                    None => read.push(i),
                }
                needs.push(Some(need));
            }
            let sample =
                rand::seq::index::sample(&mut rand::rng(), trusted.len(), trusted.len().min(VERIFY_PER_OBSERVE));
            read.extend(sample.into_iter().map(|s| trusted[s]));
            // A clone is compared with the profiles of the customer it was cloned from.
            // By its binding where it has one (a source renamed in the portal is still the
            // source), else by name.
            let source_of = |i: usize| {
                let need = needs[i].as_ref()?;
                let name = need.source()?;
                let bound_id = need.source_key.as_ref().and_then(|k| scope.bound.get(k)).map(|b| b.vendor_id.as_str());
                match bound_id {
                    Some(id) => ids.iter().position(|x| x == id),
                    None => list.iter().position(|e| e.name.eq_ignore_ascii_case(name)),
                }
            };
            let jobs: Vec<(usize, &Need)> = read.iter().filter_map(|i| needs[*i].as_ref().map(|n| (*i, n))).collect();
            // Whether customer `s` is read with its profiles anyway.
            let profiles_read: HashSet<usize> =
                jobs.iter().filter(|(_, n)| n.source().is_some()).map(|(i, _)| *i).collect();
            let sources: BTreeSet<usize> =
                jobs.iter().filter_map(|(i, _)| source_of(*i)).filter(|s| !profiles_read.contains(s)).collect();
            // One customer's read failing (an answer that cannot be read, a customer removed
            // since the list) makes that customer unreadable, not the VCO: the others are
            // planned. Refused credentials, or every read failing, is the VCO's failure.
            let mut failed: BTreeMap<usize, VendorError> = BTreeMap::new();
            let source_configs: HashMap<usize, Vec<wire::Configuration>> = self
                .http
                .each(
                    sources.iter().map(|s| (*s, list[*s].id, list[*s].name.clone())).collect::<Vec<_>>(),
                    |(s, id, name)| async move {
                        Ok((s, self.configurations(id).await.map_err(|err| of_customer(err, &name, id))))
                    },
                )
                .await?
                .into_iter()
                .filter_map(|(s, read)| read.map_err(|e| failed.insert(s, e)).ok().map(|c| (s, c)))
                .collect();
            let found: HashMap<usize, Details> = self
                .http
                .each(
                    jobs.iter()
                        .map(|(i, need)| (*i, list[*i].id, list[*i].name.clone(), (*need).clone()))
                        .collect::<Vec<_>>(),
                    |(i, id, name, need)| {
                        let only = only_image(&catalog, id);
                        async move {
                            Ok((i, self.details(id, &need, only).await.map_err(|err| of_customer(err, &name, id))))
                        }
                    },
                )
                .await?
                .into_iter()
                .filter_map(|(i, read)| read.map_err(|e| failed.insert(i, e)).ok().map(|d| (i, d)))
                .collect();
            let attempted = jobs.len() + sources.len();
            if let Some(e) = failed.values().find(|e| e.kind == ErrorKind::Auth) {
                return Err(e.clone());
            }
            if attempted > 1 && failed.len() == attempted {
                return Err(failed.into_values().next().expect("failed is not empty"));
            }
            let mut unreadable = BTreeMap::new();
            for (i, d) in &found {
                let Some(need) = needs[*i].as_ref() else { continue };
                let source = match source_of(*i) {
                    None => None,
                    // The source's own profiles: from its read when it was read (with profiles),
                    // else from the extra read.
                    Some(s) => match source_configs.get(&s).map(Vec::as_slice).or_else(|| {
                        found.get(&s).filter(|_| profiles_read.contains(&s)).map(|d| d.configurations.as_slice())
                    }) {
                        Some(configurations) => Some(configurations),
                        None => match failed.get(&s) {
                            Some(e) => {
                                unreadable.insert(
                                    need.key.clone(),
                                    format!(
                                        "the profiles of the customer it clones could not be read: {}: {}",
                                        e.operation, e.message
                                    ),
                                );
                                continue;
                            }
                            None => None,
                        },
                    },
                };
                details[*i] = d.fields(need, source);
            }
            for (i, e) in &failed {
                if let Some(need) = needs[*i].as_ref() {
                    unreadable.insert(need.key.clone(), format!("{}: {}", e.operation, e.message));
                }
            }
            let objects = list
                .iter()
                .zip(details)
                .zip(&needs)
                .filter(|(_, need)| need.as_ref().is_none_or(|n| !unreadable.contains_key(&n.key)))
                .map(|((e, details), _)| self.observed(e, &catalog, details))
                .collect();
            Ok(Observation { objects, work: BTreeMap::new(), unreadable })
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
                    let need = Need::of(d);
                    let details = self.details(e.id, &need, only_image(&catalog, e.id)).await?;
                    let source = match need.source().and_then(|n| list.iter().find(|s| s.name.eq_ignore_ascii_case(n)))
                    {
                        Some(s) => Some(self.configurations(s.id).await?),
                        None => None,
                    };
                    Ok(Some(self.observed(e, &catalog, details.fields(&need, source.as_deref()))))
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
                    for (ours, theirs) in &ADMIN[1..] {
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
                        // The clone gets a copy of the source's configuration profile (not an
                        // operator profile): `configurationId` names one of the source's own
                        // (`clone_enterprise_v2_request`; `enterprise/getEnterpriseConfigurations`).
                        let profiles = self.configurations(src).await?;
                        let profile = profiles.iter().find(|p| p.is_staging != Some(1)).ok_or_else(|| {
                            fail(&format!("the customer to clone, {source}, has no configuration profile"))
                        })?;
                        body["configurationId"] = json!(profile.id);
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
                    // What only per-customer reads report, as created: observing need not read it.
                    let mut applied = BTreeMap::from([
                        ("analytics".to_string(), v("analytics")),
                        ("configuration".to_string(), configuration.clone()),
                    ]);
                    if !v("defaultImage").is_null() {
                        applied.insert("defaultImage".to_string(), v("defaultImage"));
                    }
                    for (ours, _) in ADMIN {
                        applied.insert(ours.to_string(), v(ours));
                    }
                    Ok(Outcome { vendor_id: Some(id.to_string()), applied, ..Outcome::default() })
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
                    // The initial administrator's details: `enterpriseUser/updateEnterpriseUser`
                    // on the user observing found (swagger 5.0.0; `_update` takes no username).
                    let mut admin_update = serde_json::Map::new();
                    for c in &a.changes {
                        let after = c.after.clone().unwrap_or(Json::Null);
                        if let Some((_, theirs)) = ADMIN[1..].iter().find(|(ours, _)| *ours == c.field) {
                            // The VCO keeps an unset text field as "" (swagger 2.0 has no null).
                            admin_update.insert(theirs.to_string(), if after.is_null() { json!("") } else { after });
                            continue;
                        }
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
                    if !admin_update.is_empty() {
                        let username = wanted("adminUsername");
                        let user = self.admin(id, username.as_str()).await?.ok_or_else(|| {
                            fail("the customer has no user on the VCO to update as its administrator")
                        })?;
                        self.call(
                            "enterpriseUser/updateEnterpriseUser",
                            json!({"id": user.id, "enterpriseId": id, "_update": admin_update}),
                        )
                        .await?;
                    }
                    // What analytics, the administrator and the default image now are, for
                    // observing without a read per customer.
                    let mut applied: BTreeMap<String, Json> = a
                        .changes
                        .iter()
                        .filter(|c| c.field == "analytics" || ADMIN[1..].iter().any(|(ours, _)| *ours == c.field))
                        .map(|c| (c.field.clone(), c.after.clone().unwrap_or(Json::Null)))
                        .collect();
                    if a.changes.iter().any(|c| matches!(c.field.as_str(), "softwareImages" | "defaultImage"))
                        && !wanted("defaultImage").is_null()
                    {
                        applied.insert("defaultImage".to_string(), wanted("defaultImage"));
                    }
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
