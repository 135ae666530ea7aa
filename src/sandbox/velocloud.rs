//! VMware SD-WAN Orchestrator API v1 (5.0.0): the partner (MSP) methods tenantry uses, on both
//! transports: REST-like `POST /portal/rest/<namespace>/<method>` and JSON-RPC `POST /portal/`.
//! Follows the vendor's swagger (`shared/specs`) and providers.md section 3: token or session
//! cookie auth (login answers 302 and sets `velocloud.session` only on success), `{error: {code,
//! message}}` bodies with 400 for invalid requests and 500 for failures, a leaky-bucket limiter
//! whose 429 starts a penalty window that requests during it extend, and the partner setting
//! that disables customer creation.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State as Ax};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use super::{Shared, after, credentials};

/// The methods this simulator serves: every one exists in the vendor's v1 swagger (a test
/// checks it).
pub const METHODS: &[&str] = &[
    "login/enterpriseLogin",
    "logout",
    "enterpriseProxy/getEnterpriseProxyEnterprises",
    "enterpriseProxy/insertEnterpriseProxyEnterprise",
    "enterpriseProxy/getEnterpriseProxyGatewayPools",
    "enterpriseProxy/getEnterpriseProxyOperatorProfiles",
    "enterprise/cloneEnterpriseV2",
    "enterprise/getEnterprise",
    "enterprise/updateEnterprise",
    "enterprise/deleteEnterprise",
    "enterprise/getEnterpriseEdges",
    "enterprise/getEnterpriseConfigurations",
    "enterprise/getEnterpriseOperatorConfiguration",
    "enterprise/getEnterpriseDefaultOperatorConfiguration",
    "enterprise/updateEdgeImageManagement",
    "enterprise/getAnalyticsConfiguration",
    "enterprise/insertOrUpdateAnalyticsConfiguration",
    "enterprise/getEnterpriseUsers",
    "enterpriseUser/updateEnterpriseUser",
    "role/setEnterpriseDelegatedToEnterpriseProxy",
    "role/setEnterpriseDelegatedToOperator",
    "role/setEnterpriseUserManagementDelegatedToOperator",
];

/// Request fields the simulator accepts that the 5.0.0 schema of that method does not list,
/// with where the vendor documents them. Everything else it reads is in the method's schema.
pub const EXTENSIONS: &[(&str, &str, &str)] = &[
    (
        "enterpriseProxy/insertEnterpriseProxyEnterprise",
        "accountNumber",
        "enterprise object; cloneEnterpriseV2 body; 4.x insert (providers.md 3.2)",
    ),
    ("enterpriseProxy/insertEnterpriseProxyEnterprise", "domain", "enterprise object; 4.x insert (providers.md 3.2)"),
    (
        "enterprise/updateEnterprise",
        "_update.accountNumber",
        "enterprise object; _update is open (providers.md 3.2, inferred)",
    ),
    (
        "enterprise/updateEnterprise",
        "_update.domain",
        "enterprise object; _update is open (providers.md 3.2, inferred)",
    ),
    (
        "enterprise/updateEnterprise",
        "_update.assignedOperatorProfileConfigurationIds",
        "insert body; _update is open (providers.md 3.2, inferred)",
    ),
    ("enterprise/updateEnterprise", "_update.licenses", "insert body; _update is open (providers.md 3.2, inferred)"),
    (
        "enterprise/updateEnterprise",
        "_update.configurationId",
        "insert body; _update is open (providers.md 3.2, inferred)",
    ),
    (
        "role/setEnterpriseDelegatedToOperator",
        "enterpriseId",
        "common parameter a partner passes for a customer (swagger description, 'enterpriseId')",
    ),
    (
        "role/setEnterpriseUserManagementDelegatedToOperator",
        "enterpriseId",
        "common parameter a partner passes for a customer (swagger description, 'enterpriseId')",
    ),
];

/// Edge licences the sandbox partner holds: `(id, name)`.
pub const LICENSES: &[(u64, &str)] =
    &[(101, "standard-100m-emea"), (102, "premium-1g-emea"), (103, "standard-100m-us"), (104, "standard-100m-apac")];

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    pub proxy_id: i64,
    pub enterprises: BTreeMap<i64, Enterprise>,
    pub gateway_pools: Vec<(i64, String)>,
    pub profiles: Vec<(i64, String)>,
    pub edges: Vec<Edge>,
    /// The operator's `session.options.disableCreateEnterprise` for this partner.
    pub creation_disabled: bool,
    pub sessions: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Enterprise {
    pub id: i64,
    pub logical_id: String,
    pub name: String,
    pub domain: String,
    pub account_number: String,
    pub description: String,
    pub site: serde_json::Map<String, Json>,
    pub gateway_pool_id: i64,
    pub configuration_id: i64,
    pub assigned_profiles: Vec<i64>,
    pub image_management: bool,
    pub licenses: Vec<u64>,
    pub analytics: Json,
    pub delegated_to_proxy: bool,
    pub delegated_to_operator: bool,
    pub user_management_delegated: bool,
    /// The customer's own configuration profiles (`enterprise/getEnterpriseConfigurations`):
    /// a new customer gets one, a clone a copy of the one `configurationId` names.
    #[serde(default)]
    pub configurations: Vec<Configuration>,
    pub admin: Json,
    pub created: String,
    pub modified: String,
}

/// An enterprise configuration profile, as `model_configuration` in the v1 swagger names its
/// fields.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Configuration {
    pub id: i64,
    pub logical_id: String,
    pub name: String,
    pub description: String,
    pub created: String,
    pub modified: String,
}

/// The profile a customer created without a source gets (the VCO's "Quick Start Profile").
pub const QUICK_START: &str = "Quick Start Profile";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Edge {
    pub id: i64,
    pub enterprise_id: i64,
    pub name: String,
    pub software_version: String,
}

const SITE_FIELDS: &[&str] = &[
    "contactName",
    "contactPhone",
    "contactMobile",
    "contactEmail",
    "streetAddress",
    "streetAddress2",
    "city",
    "state",
    "postalCode",
    "country",
    "lat",
    "lon",
    "timezone",
    "locale",
];

impl State {
    pub fn seeded() -> Self {
        State {
            proxy_id: 1,
            enterprises: BTreeMap::new(),
            gateway_pools: vec![
                (1, "default-pool".into()),
                (2, "emea-pool".into()),
                (3, "dach-pool".into()),
                (4, "us-east-pool".into()),
            ],
            profiles: vec![
                (7, "sdwan-standard".into()),
                (10, "edge-5.0.0".into()),
                (11, "edge-5.2.0".into()),
                (12, "edge-5.4.1".into()),
            ],
            edges: Vec::new(),
            creation_disabled: false,
            sessions: Vec::new(),
        }
    }

    pub fn dump(&self) -> Json {
        let mut out: Vec<Json> =
            self.enterprises.values().map(|e| json!({"type": "enterprise", "enterprise": e})).collect();
        out.extend(self.edges.iter().map(|e| json!({"type": "edge", "edge": e})));
        Json::Array(out)
    }

    fn enterprise_json(&self, e: &Enterprise, with: &[String]) -> Json {
        let mut o = json!({
            "id": e.id, "created": e.created, "networkId": 1, "gatewayPoolId": e.gateway_pool_id, "alertsEnabled": 1,
            "operatorAlertsEnabled": 1, "endpointPkiMode": "CERTIFICATE_OPTIONAL", "name": e.name, "domain": e.domain,
            "prefix": "", "logicalId": e.logical_id, "accountNumber": e.account_number, "description": e.description,
            "modified": e.modified, "bastionState": "UNCONFIGURED",
        });
        // The swagger requires every site field in an enterprise (`enterprise_get_enterprise_
        // result`) and swagger 2.0 has no null: an unset text field is "", unset coordinates 0.
        for f in SITE_FIELDS {
            o[*f] = match e.site.get(*f).filter(|v| !v.is_null()) {
                Some(v) => v.clone(),
                None if matches!(*f, "lat" | "lon") => json!(0),
                None => json!(""),
            };
        }
        let edges: Vec<&Edge> = self.edges.iter().filter(|x| x.enterprise_id == e.id).collect();
        if with.iter().any(|w| w == "edgeCount") {
            o["edgeCount"] = json!(edges.len());
        }
        if with.iter().any(|w| w == "edges") {
            o["edges"] = json!(edges.iter().map(|x| edge_json(x)).collect::<Vec<_>>());
        }
        if with.iter().any(|w| w == "enterpriseProxy") {
            o["enterpriseProxy"] = json!({"id": self.proxy_id, "proxyType": "MSP", "name": "Contoso MSP (sandbox)", "logicalId": "msp-sandbox"});
        }
        o
    }
}

/// An operator profile as `model_configuration` (with the fields
/// `enterprise_get_enterprise_operator_configuration_result` requires).
fn operator_profile_json(id: i64, name: &str) -> Json {
    json!({"id": id, "name": name, "description": "", "created": "2026-01-01T00:00:00.000Z", "effective": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z", "version": "1", "configurationType": "SEGMENT_BASED", "logicalId": format!("00000000-0000-4000-8000-{id:012}"), "schemaVersion": "5.0.0", "bastionState": "UNCONFIGURED"})
}

/// An enterprise configuration profile as `enterprise_get_enterprise_configurations_result_item`.
fn configuration_json(c: &Configuration) -> Json {
    json!({"id": c.id, "logicalId": c.logical_id, "name": c.name, "description": c.description, "created": c.created, "effective": c.created, "modified": c.modified, "version": "1", "configurationType": "SEGMENT_BASED", "schemaVersion": "5.0.0", "isStaging": 0, "bastionState": "UNCONFIGURED"})
}

fn edge_json(e: &Edge) -> Json {
    json!({"id": e.id, "enterpriseId": e.enterprise_id, "name": e.name, "softwareVersion": e.software_version, "edgeState": "CONNECTED", "activationState": "ACTIVATED"})
}

/// The id of a customer's initial administrator (the only user the simulator keeps per
/// customer): stable, and unique across customers.
pub fn admin_user_id(enterprise: i64) -> i64 {
    enterprise * 100 + 1
}

/// The initial administrator as `enterprise_get_enterprise_users_result_item`
/// (`enterprise_user_with_role_info`) names its fields; swagger 2.0 has no null, so an unset
/// text field is "". The password and salt the schema requires are never given out: "".
fn user_json(e: &Enterprise) -> Json {
    let text = |k: &str| e.admin.get(k).filter(|v| !v.is_null()).cloned().unwrap_or(json!(""));
    json!({
        "id": admin_user_id(e.id), "created": e.created, "userType": "ENTERPRISE", "username": text("username"),
        "domain": text("domain"), "password": "", "salt": "", "firstName": text("firstName"),
        "lastName": text("lastName"), "officePhone": text("officePhone"), "mobilePhone": text("mobilePhone"),
        "email": text("email"), "isNative": 1, "isActive": 1, "isLocked": 0, "disableSecondFactor": 0,
        "lastLogin": "", "modified": e.modified, "passwordModified": "", "isSuper": 1, "roleId": 3,
        "roleName": "Enterprise Superuser",
    })
}

/// A VCO error: HTTP status and `{error: {code, message}}`.
#[derive(Debug)]
pub struct RpcError {
    status: StatusCode,
    code: i64,
    message: String,
}

fn invalid(message: impl Into<String>) -> RpcError {
    RpcError { status: StatusCode::BAD_REQUEST, code: -32600, message: message.into() }
}

fn failed(message: impl Into<String>) -> RpcError {
    RpcError { status: StatusCode::INTERNAL_SERVER_ERROR, code: -32603, message: message.into() }
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/portal/rest/{ns}/{method}", post(rest))
        .route("/portal/rest/logout", post(rest_logout))
        .route("/portal/", post(jsonrpc))
        .route("/portal", post(jsonrpc))
        .with_state(shared)
}

/// Throttle per the VCO: a leaky bucket over 5-second windows; a 429 starts a penalty during
/// which every request is refused, and requests sent during it extend it.
fn throttle(shared: &Shared) -> Option<Response> {
    let now = shared.now();
    let mut l = shared.vco_limiter.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(until) = l.2 {
        if until > now {
            l.2 = Some(after(now, shared.opts.vco_penalty));
            return Some(StatusCode::TOO_MANY_REQUESTS.into_response());
        }
        l.2 = None;
    }
    if after(l.0, std::time::Duration::from_secs(5)) <= now {
        *l = (now, 0, None);
    }
    l.1 += 1;
    if l.1 > shared.opts.vco_bucket {
        l.2 = Some(after(now, shared.opts.vco_penalty));
        return Some(StatusCode::TOO_MANY_REQUESTS.into_response());
    }
    None
}

fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Token "));
    if token == Some(credentials::VCO_TOKEN) {
        return true;
    }
    let cookie = headers.get("cookie").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let session = cookie.split(';').filter_map(|c| c.trim().strip_prefix("velocloud.session=")).next();
    session.is_some_and(|s| !s.is_empty() && shared.read(|w, _| w.velocloud.sessions.iter().any(|x| x == s)))
}

async fn rest(
    Ax(shared): Ax<Arc<Shared>>,
    headers: HeaderMap,
    Path((ns, method)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let method = format!("{ns}/{method}");
    if let Some(r) = throttle(&shared) {
        return r;
    }
    let params: Json = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => return rest_error(invalid("the request body is not valid JSON")),
        }
    };
    if method == "login/enterpriseLogin" {
        return login(&shared, &params);
    }
    if !authorized(&shared, &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": {"code": -32000, "message": "tokenError [expired or invalid token]"}})),
        )
            .into_response();
    }
    match call(&shared, &method, &params) {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => rest_error(e),
    }
}

async fn rest_logout(Ax(shared): Ax<Arc<Shared>>, headers: HeaderMap) -> Response {
    let cookie = headers.get("cookie").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    shared.mutate(|w, _| w.velocloud.sessions.retain(|s| !cookie.contains(s.as_str())));
    axum::Json(json!({})).into_response()
}

fn rest_error(e: RpcError) -> Response {
    (e.status, axum::Json(json!({"error": {"code": e.code, "message": e.message}}))).into_response()
}

async fn jsonrpc(Ax(shared): Ax<Arc<Shared>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if let Some(r) = throttle(&shared) {
        return r;
    }
    let Ok(req) = serde_json::from_slice::<Json>(&body) else {
        return axum::Json(json!({"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": null}))
            .into_response();
    };
    let id = req.get("id").cloned().unwrap_or(Json::Null);
    if req.get("jsonrpc").and_then(Json::as_str) != Some("2.0") {
        return axum::Json(json!({"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request: jsonrpc must be \"2.0\""}, "id": id})).into_response();
    }
    let method = req.get("method").and_then(Json::as_str).unwrap_or_default().to_string();
    let params = req.get("params").cloned().unwrap_or(json!({}));
    if method == "login/enterpriseLogin" {
        return login(&shared, &params);
    }
    if !authorized(&shared, &headers) {
        return axum::Json(json!({"jsonrpc": "2.0", "error": {"code": -32000, "message": "tokenError [expired or invalid token]"}, "id": id})).into_response();
    }
    match call(&shared, &method, &params) {
        Ok(result) => axum::Json(json!({"jsonrpc": "2.0", "result": result, "id": id})).into_response(),
        Err(e) => axum::Json(json!({"jsonrpc": "2.0", "error": {"code": e.code, "message": e.message}, "id": id}))
            .into_response(),
    }
}

/// 302 on success and failure; only success sets a non-empty session cookie.
fn login(shared: &Shared, params: &Json) -> Response {
    let ok = params.get("username").and_then(Json::as_str) == Some(credentials::VCO_USER)
        && params.get("password").and_then(Json::as_str) == Some(credentials::VCO_PASSWORD);
    let mut r = StatusCode::FOUND.into_response();
    r.headers_mut().insert("location", HeaderValue::from_static("/"));
    if ok {
        let session = uuid::Uuid::new_v4().simple().to_string();
        shared.mutate(|w, _| w.velocloud.sessions.push(session.clone()));
        if let Ok(v) = HeaderValue::from_str(&format!("velocloud.session={session}; Path=/; HttpOnly")) {
            r.headers_mut().insert("set-cookie", v);
        }
    } else if let Ok(v) = HeaderValue::from_str("velocloud.message=Invalid%20username%20or%20password; Path=/") {
        r.headers_mut().insert("set-cookie", v);
    }
    r
}

fn int(p: &Json, k: &str) -> Option<i64> {
    p.get(k).and_then(Json::as_i64)
}

fn with_of(p: &Json) -> Vec<String> {
    p.get("with")
        .and_then(Json::as_array)
        .map(|a| a.iter().filter_map(Json::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

/// One API method.
fn call(shared: &Shared, method: &str, p: &Json) -> Result<Json, RpcError> {
    if !METHODS.contains(&method) {
        return Err(invalid(format!("Unknown method: {method}")));
    }
    shared.mutate(|w, now| {
        let s = &mut w.velocloud;
        let stamp = super::vco_time(now);
        match method {
            "logout" => Ok(json!({})),
            "enterpriseProxy/getEnterpriseProxyEnterprises" => {
                let with = with_of(p);
                Ok(Json::Array(s.enterprises.values().map(|e| s.enterprise_json(e, &with)).collect()))
            }
            "enterpriseProxy/getEnterpriseProxyGatewayPools" => Ok(Json::Array(
                s.gateway_pools
                    .iter()
                    .map(|(id, name)| {
                        let members: Vec<Json> = s.enterprises.values().filter(|e| e.gateway_pool_id == *id).map(|e| json!({"id": e.id, "name": e.name})).collect();
                        json!({"id": id, "networkId": 1, "enterpriseProxyId": s.proxy_id, "name": name, "description": "", "isDefault": *id == 1, "handOffType": "NONE", "enterprises": members})
                    })
                    .collect(),
            )),
            "enterpriseProxy/getEnterpriseProxyOperatorProfiles" => {
                let with = with_of(p);
                Ok(Json::Array(
                    s.profiles
                        .iter()
                        .map(|(id, name)| {
                            let mut o = operator_profile_json(*id, name);
                            let users: Vec<&Enterprise> = s.enterprises.values().filter(|e| e.assigned_profiles.contains(id)).collect();
                            if with.iter().any(|w| w == "enterprises") {
                                o["enterprises"] = json!(users.iter().map(|e| json!({"id": e.id, "name": e.name})).collect::<Vec<_>>());
                            }
                            if with.iter().any(|w| w == "edges") {
                                o["edges"] = json!(s.edges.iter().filter(|x| &x.software_version == name).map(edge_json).collect::<Vec<_>>());
                            }
                            if with.iter().any(|w| w == "edgeCount") {
                                o["edgeCount"] = json!(s.edges.iter().filter(|x| &x.software_version == name).count());
                            }
                            o
                        })
                        .collect(),
                ))
            }
            "enterpriseProxy/insertEnterpriseProxyEnterprise" | "enterprise/cloneEnterpriseV2" => {
                if s.creation_disabled {
                    return Err(failed("Operation not permitted: creation of customers is disabled for this partner (session.options.disableCreateEnterprise)"));
                }
                let clone_of = if method == "enterprise/cloneEnterpriseV2" {
                    let source = int(p, "id").ok_or_else(|| invalid("id (the enterprise to clone) is required"))?;
                    Some(s.enterprises.get(&source).cloned().ok_or_else(|| failed(format!("enterprise {source} does not exist")))?)
                } else {
                    None
                };
                let name = p.get("name").and_then(Json::as_str).unwrap_or_default().to_string();
                if name.trim().is_empty() {
                    return Err(invalid("name is required"));
                }
                let requested = int(p, "configurationId").ok_or_else(|| invalid("configurationId is required"))?;
                let next_configuration = s.enterprises.values().flat_map(|e| e.configurations.iter().map(|c| c.id)).max().unwrap_or(0).max(2000) + 1;
                // Insert: `configurationId` is an operator profile, and the customer starts with
                // a Quick Start profile. Clone (`clone_enterprise_v2_request`): it is one of the
                // source's configuration profiles (`enterprise/getEnterpriseConfigurations`),
                // which the clone gets a copy of; the clone keeps the source's operator profile.
                let (configuration_id, configuration) = match &clone_of {
                    Some(src) => {
                        let c = src.configurations.iter().find(|c| c.id == requested).ok_or_else(|| {
                            invalid(format!("configurationId {requested} is not a configuration profile of enterprise {}", src.id))
                        })?;
                        (src.configuration_id, Configuration { id: next_configuration, logical_id: uuid::Uuid::new_v4().to_string(), name: c.name.clone(), description: c.description.clone(), created: stamp.clone(), modified: stamp.clone() })
                    }
                    None => {
                        if !s.profiles.iter().any(|(id, _)| *id == requested) {
                            return Err(invalid(format!("configurationId {requested} is not an operator profile of this partner")));
                        }
                        (requested, Configuration { id: next_configuration, logical_id: uuid::Uuid::new_v4().to_string(), name: QUICK_START.into(), description: String::new(), created: stamp.clone(), modified: stamp.clone() })
                    }
                };
                if s.enterprises.values().any(|e| e.name.eq_ignore_ascii_case(&name)) {
                    return Err(failed(format!("An enterprise named {name} already exists")));
                }
                let account = p.get("accountNumber").and_then(Json::as_str).unwrap_or_default().to_string();
                if !account.is_empty() && s.enterprises.values().any(|e| e.account_number == account) {
                    return Err(failed(format!("Account number {account} is already used by another enterprise")));
                }
                let user = p.get("user").cloned().unwrap_or(Json::Null);
                if !user.is_null() {
                    let username = user.get("username").and_then(Json::as_str).unwrap_or_default();
                    if username.is_empty() || user.get("password").and_then(Json::as_str).unwrap_or_default().is_empty() {
                        return Err(invalid("user.username and user.password are required"));
                    }
                    if s.enterprises.values().any(|e| e.admin.get("username").and_then(Json::as_str) == Some(username)) {
                        return Err(failed(format!("A user with username {username} already exists")));
                    }
                } else if clone_of.is_some() {
                    return Err(invalid("user is required"));
                }
                let pool = int(p, "gatewayPoolId").unwrap_or(1);
                if !s.gateway_pools.iter().any(|(id, _)| *id == pool) {
                    return Err(invalid(format!("gatewayPoolId {pool} is not a gateway pool of this partner")));
                }
                let assigned: Vec<i64> = p.get("assignedOperatorProfileConfigurationIds").and_then(Json::as_array).map(|a| a.iter().filter_map(Json::as_i64).collect()).unwrap_or_default();
                if let Some(bad) = assigned.iter().find(|id| !s.profiles.iter().any(|(p, _)| p == *id)) {
                    return Err(invalid(format!("operator profile {bad} does not exist")));
                }
                let licenses: Vec<u64> = p.pointer("/licenses/ids").and_then(Json::as_array).map(|a| a.iter().filter_map(Json::as_u64).collect()).unwrap_or_default();
                if let Some(bad) = licenses.iter().find(|id| !LICENSES.iter().any(|(l, _)| l == *id)) {
                    return Err(invalid(format!("edge licence {bad} does not exist")));
                }
                let id = s.enterprises.keys().max().copied().unwrap_or(0).max(40) + 1;
                let mut site = serde_json::Map::new();
                for f in SITE_FIELDS {
                    if let Some(v) = p.get(*f) {
                        site.insert(f.to_string(), v.clone());
                    }
                }
                let mut admin = user.clone();
                if let Some(o) = admin.as_object_mut() {
                    o.remove("password");
                    o.remove("password2");
                }
                let e = Enterprise {
                    id,
                    logical_id: uuid::Uuid::new_v4().to_string(),
                    name,
                    domain: p.get("domain").and_then(Json::as_str).unwrap_or_default().to_string(),
                    account_number: account,
                    description: p.get("description").and_then(Json::as_str).unwrap_or_default().to_string(),
                    site,
                    gateway_pool_id: pool,
                    configuration_id,
                    assigned_profiles: if assigned.is_empty() { clone_of.as_ref().map(|c| c.assigned_profiles.clone()).unwrap_or_default() } else { assigned },
                    image_management: p.get("delegateEdgeImageManagementToEnterprise").and_then(Json::as_bool).unwrap_or(false),
                    licenses,
                    analytics: p.get("analyticsConfiguration").cloned().unwrap_or(json!({"analyticsCapability": "NONE"})),
                    // API defaults: partner access off (although the UI ticks it), operator access on.
                    delegated_to_proxy: p.get("enableEnterpriseDelegationToProxy").and_then(Json::as_bool).unwrap_or(false),
                    delegated_to_operator: p.get("enableEnterpriseDelegationToOperator").and_then(Json::as_bool).unwrap_or(true),
                    user_management_delegated: p.get("enableEnterpriseUserManagementDelegationToOperator").and_then(Json::as_bool).unwrap_or(false),
                    configurations: vec![configuration],
                    admin,
                    created: stamp.clone(),
                    modified: stamp,
                };
                s.enterprises.insert(id, e.clone());
                if method == "enterprise/cloneEnterpriseV2" {
                    Ok(s.enterprise_json(&e, &[]))
                } else {
                    Ok(json!({"id": id, "rows": 1}))
                }
            }
            "enterprise/getEnterprise" => {
                let id = int(p, "enterpriseId").or_else(|| int(p, "id")).ok_or_else(|| invalid("enterpriseId is required for a partner"))?;
                let e = s.enterprises.get(&id).ok_or_else(|| failed(format!("enterprise {id} does not exist")))?;
                Ok(s.enterprise_json(e, &with_of(p)))
            }
            "enterprise/updateEnterprise" => {
                let id = int(p, "enterpriseId").ok_or_else(|| invalid("enterpriseId is required for a partner"))?;
                let upd = p.get("_update").cloned().unwrap_or(json!({}));
                let pools = s.gateway_pools.clone();
                let profiles = s.profiles.clone();
                let taken_name = upd.get("name").and_then(Json::as_str).is_some_and(|n| s.enterprises.values().any(|e| e.id != id && e.name.eq_ignore_ascii_case(n)));
                let taken_account = upd.get("accountNumber").and_then(Json::as_str).is_some_and(|n| !n.is_empty() && s.enterprises.values().any(|e| e.id != id && e.account_number == n));
                if taken_name || taken_account {
                    return Err(failed("another enterprise already has that name or account number"));
                }
                let e = s.enterprises.get_mut(&id).ok_or_else(|| failed(format!("enterprise {id} does not exist")))?;
                if let Some(n) = upd.get("name").and_then(Json::as_str) {
                    e.name = n.to_string();
                }
                for f in SITE_FIELDS {
                    if let Some(v) = upd.get(*f) {
                        e.site.insert(f.to_string(), v.clone());
                    }
                }
                if let Some(v) = upd.get("accountNumber").and_then(Json::as_str) {
                    e.account_number = v.to_string();
                }
                if let Some(v) = upd.get("domain").and_then(Json::as_str) {
                    e.domain = v.to_string();
                }
                if let Some(v) = upd.get("gatewayPoolId").and_then(Json::as_i64) {
                    if !pools.iter().any(|(id, _)| *id == v) {
                        return Err(invalid(format!("gatewayPoolId {v} is not a gateway pool of this partner")));
                    }
                    e.gateway_pool_id = v;
                }
                if let Some(a) = upd.get("assignedOperatorProfileConfigurationIds").and_then(Json::as_array) {
                    let ids: Vec<i64> = a.iter().filter_map(Json::as_i64).collect();
                    if let Some(bad) = ids.iter().find(|id| !profiles.iter().any(|(p, _)| p == *id)) {
                        return Err(invalid(format!("operator profile {bad} does not exist")));
                    }
                    e.assigned_profiles = ids;
                }
                if let Some(ids) = upd.pointer("/licenses/ids").and_then(Json::as_array) {
                    e.licenses = ids.iter().filter_map(Json::as_u64).collect();
                }
                if let Some(v) = upd.get("configurationId").and_then(Json::as_i64) {
                    e.configuration_id = v;
                }
                e.modified = stamp;
                Ok(json!({"rows": 1}))
            }
            "enterprise/deleteEnterprise" => {
                let id = int(p, "enterpriseId").ok_or_else(|| invalid("enterpriseId is required for a partner"))?;
                if s.edges.iter().any(|x| x.enterprise_id == id) {
                    return Err(failed("Cannot delete an enterprise that still has edges; remove its edges first"));
                }
                match s.enterprises.remove(&id) {
                    Some(_) => Ok(json!({"id": id, "rows": 1})),
                    None => Err(failed(format!("enterprise {id} does not exist"))),
                }
            }
            "enterprise/getEnterpriseEdges" => {
                let id = int(p, "enterpriseId").ok_or_else(|| invalid("enterpriseId is required for a partner"))?;
                Ok(Json::Array(s.edges.iter().filter(|x| x.enterprise_id == id).map(edge_json).collect()))
            }
            "enterprise/getEnterpriseConfigurations" => {
                let id = int(p, "enterpriseId").ok_or_else(|| invalid("enterpriseId is required"))?;
                let e = s.enterprises.get(&id).ok_or_else(|| failed(format!("enterprise {id} does not exist")))?;
                Ok(Json::Array(e.configurations.iter().map(configuration_json).collect()))
            }
            "enterprise/getEnterpriseOperatorConfiguration" | "enterprise/getEnterpriseDefaultOperatorConfiguration" => {
                let id = int(p, "enterpriseId").ok_or_else(|| invalid("enterpriseId is required"))?;
                let e = s.enterprises.get(&id).ok_or_else(|| failed(format!("enterprise {id} does not exist")))?;
                // The operator profile the customer was created with; the default is the first
                // assigned image, else that profile (providers.md 3.3).
                let profile = if method == "enterprise/getEnterpriseOperatorConfiguration" {
                    e.configuration_id
                } else {
                    e.assigned_profiles.first().copied().unwrap_or(e.configuration_id)
                };
                let name = s.profiles.iter().find(|(p, _)| *p == profile).map(|(_, n)| n.clone()).ok_or_else(|| failed(format!("operator profile {profile} does not exist")))?;
                Ok(operator_profile_json(profile, &name))
            }
            "enterprise/updateEdgeImageManagement" => {
                let id = int(p, "enterpriseId").ok_or_else(|| invalid("enterpriseId is required"))?;
                let on = p.get("edgeImageManagement").and_then(Json::as_bool).ok_or_else(|| invalid("edgeImageManagement is required"))?;
                let e = s.enterprises.get_mut(&id).ok_or_else(|| failed(format!("enterprise {id} does not exist")))?;
                e.image_management = on;
                Ok(json!({"rowsAffected": 1}))
            }
            "enterprise/getAnalyticsConfiguration" => {
                let id = int(p, "enterpriseId").ok_or_else(|| invalid("enterpriseId is required for a partner"))?;
                let e = s.enterprises.get(&id).ok_or_else(|| failed(format!("enterprise {id} does not exist")))?;
                // Every enterprise has an analytics configuration; one never set is NONE.
                Ok(if e.analytics.is_null() { json!({"analyticsCapability": "NONE"}) } else { e.analytics.clone() })
            }
            "enterprise/insertOrUpdateAnalyticsConfiguration" => {
                let id = int(p, "enterpriseId").ok_or_else(|| invalid("enterpriseId is required"))?;
                let e = s.enterprises.get_mut(&id).ok_or_else(|| failed(format!("enterprise {id} does not exist")))?;
                let capability = p.get("analyticsCapability").and_then(Json::as_str).unwrap_or("NONE");
                if !["NONE", "APPLICATION_BRANCH"].contains(&capability) {
                    return Err(invalid(format!("analyticsCapability {capability} is not one of NONE, APPLICATION_BRANCH")));
                }
                e.analytics = json!({"analyticsCapability": capability, "analyticsEdgeLimit": p.get("analyticsEdgeLimit"), "analyticsSelfHealing": p.get("analyticsSelfHealing")});
                Ok(json!({"id": id, "rows": 1}))
            }
            // `enterprise/getEnterpriseUsers` (swagger 5.0.0): the customer's users, by
            // `enterpriseId`; here its initial administrator.
            "enterprise/getEnterpriseUsers" => {
                let id = int(p, "enterpriseId").or_else(|| int(p, "id")).ok_or_else(|| invalid("enterpriseId is required for a partner"))?;
                let e = s.enterprises.get(&id).ok_or_else(|| failed(format!("enterprise {id} does not exist")))?;
                Ok(if e.admin.is_object() { json!([user_json(e)]) } else { json!([]) })
            }
            // `enterpriseUser/updateEnterpriseUser` (swagger 5.0.0): the user by `id` (or
            // `username`), `_update` with `enterprise_user_update_enterprise_user`'s fields, of
            // which the username is none; answers `rows_modified_confirmation`.
            "enterpriseUser/updateEnterpriseUser" => {
                let upd = p.get("_update").and_then(Json::as_object).cloned().ok_or_else(|| invalid("_update is required"))?;
                let by_id = int(p, "id");
                let by_name = p.get("username").and_then(Json::as_str);
                if by_id.is_none() && by_name.is_none() {
                    return Err(invalid("id or username is required"));
                }
                const UPDATABLE: &[&str] = &["domain", "password", "password2", "firstName", "lastName", "officePhone", "mobilePhone", "isNative", "isActive", "disableSecondFactor", "email", "roleId", "sshUsername", "accessLevel"];
                if let Some(bad) = upd.keys().find(|k| !UPDATABLE.contains(&k.as_str())) {
                    return Err(invalid(format!("_update.{bad} is not a field of enterprise_user_update_enterprise_user")));
                }
                let e = s.enterprises.values_mut().find(|e| {
                    e.admin.is_object()
                        && (by_id == Some(admin_user_id(e.id))
                            || by_name.is_some_and(|n| e.admin.get("username").and_then(Json::as_str).is_some_and(|u| u.eq_ignore_ascii_case(n))))
                });
                let Some(e) = e else { return Ok(json!({"rows": 0})) };
                for (k, v) in upd {
                    if !matches!(k.as_str(), "password" | "password2") {
                        e.admin[k] = v;
                    }
                }
                Ok(json!({"rows": 1}))
            }
            "role/setEnterpriseDelegatedToEnterpriseProxy" | "role/setEnterpriseDelegatedToOperator" | "role/setEnterpriseUserManagementDelegatedToOperator" => {
                let id = int(p, "enterpriseId").ok_or_else(|| invalid("enterpriseId is required for a partner"))?;
                let on = p.get("isDelegated").and_then(Json::as_bool).ok_or_else(|| invalid("isDelegated is required"))?;
                let e = s.enterprises.get_mut(&id).ok_or_else(|| failed(format!("enterprise {id} does not exist")))?;
                match method {
                    "role/setEnterpriseDelegatedToEnterpriseProxy" => e.delegated_to_proxy = on,
                    "role/setEnterpriseDelegatedToOperator" => e.delegated_to_operator = on,
                    _ => e.user_management_delegated = on,
                }
                Ok(json!({"isDelegated": on}))
            }
            other => Err(invalid(format!("Unknown method: {other}"))),
        }
    })
}

/// Seed an edge running `image` for a customer (admin API: edges come from hardware tenantry
/// does not manage).
pub fn add_edge(w: &mut super::World, enterprise_name: &str, edge: &str, image: &str) -> Result<String, String> {
    let s = &mut w.velocloud;
    let id = s
        .enterprises
        .values()
        .find(|e| e.name.eq_ignore_ascii_case(enterprise_name))
        .map(|e| e.id)
        .ok_or_else(|| format!("no enterprise named {enterprise_name}"))?;
    let edge_id = 900 + s.edges.len() as i64;
    s.edges.push(Edge { id: edge_id, enterprise_id: id, name: edge.to_string(), software_version: image.to_string() });
    Ok(format!("edge {edge} ({edge_id}) runs {image} at {enterprise_name}"))
}
