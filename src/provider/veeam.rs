//! Veeam Service Provider Console REST v3 client: companies and VCSP Pulse tenants.

use std::collections::BTreeMap;

use std::time::Duration;

use backon::ExponentialBuilder;
use reqwest::header::{HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
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

const PAGE: usize = 500;

/// VSPC wire types: only what tenantry reads.
mod wire {
    use serde::Deserialize;

    /// A single object's answer: `{data: T, ...}`.
    #[derive(Debug, Deserialize)]
    pub struct One<T> {
        pub data: T,
    }

    /// What a create answers, as far as tenantry reads it: the new object's UID.
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Created {
        pub instance_uid: String,
    }

    /// `AsyncActionInfo`, as far as tenantry reads it.
    #[derive(Debug, Deserialize)]
    pub struct ActionInfo {
        pub status: ActionStatus,
    }

    /// `AsyncActionStatus`: a value not listed here is an answer tenantry cannot read.
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum ActionStatus {
        Running,
        Succeed,
        Canceled,
        Failed,
    }

    /// A list answer: `{data: [...], meta: {pagingInfo: {total, count, offset}}}`. VSPC always
    /// sends the total; a list without it cannot be known to be complete.
    #[derive(Debug, Deserialize)]
    pub struct Page<T> {
        pub data: Vec<T>,
        pub meta: Meta,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Meta {
        pub paging_info: PagingInfo,
    }

    #[derive(Debug, Deserialize)]
    pub struct PagingInfo {
        pub total: usize,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Company {
        pub instance_uid: String,
        pub name: String,
        pub status: String,
        #[serde(default)]
        pub owner_credentials: Option<Owner>,
        /// The VSPC reseller managing the company; `null` when the MSP manages it directly.
        #[serde(default)]
        pub reseller_uid: Option<String>,
        #[serde(default, rename = "_embedded")]
        pub embedded: Option<Embedded>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Owner {
        pub user_name: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    pub struct Embedded {
        pub organization: Option<serde_json::Map<String, serde_json::Value>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct PulseTenant {
        pub instance_uid: String,
        pub name: String,
        pub mapping_status: String,
        pub mapping_status_message: Option<String>,
        pub mapped_master_organization_uid: Option<String>,
    }

    /// `PulseVdcMonthlyUsagePeriod` (VSPC 3.7 `GET /pulse/monthlyUsages`).
    #[derive(Debug, Deserialize)]
    pub struct VdcUsagePeriod {
        pub month: String,
        #[serde(default)]
        pub tenants: Vec<TenantVdcUsage>,
    }

    /// `PulseTenantVdcUsage`.
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct TenantVdcUsage {
        pub tenant_uid: String,
        #[serde(default)]
        pub workloads: Vec<VdcWorkload>,
    }

    /// `PulseVdcWorkload` (only what tenantry reports).
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct VdcWorkload {
        pub product_name: Option<String>,
        pub used_units: Option<f64>,
    }
}

/// Organization fields tenantry manages, by manifest field name -> VSPC organization name.
const ORG_FIELDS: &[(&str, &str)] = &[
    ("name", "name"),
    ("companyId", "companyId"),
    ("website", "website"),
    ("street", "street"),
    ("city", "city"),
    ("zipCode", "zipCode"),
    ("countryCode", "locationAdmin0Code"),
    ("phone", "phone"),
];

/// Sign-in at `/token` with the MSP user's name and password (`grant_type=password`), or with
/// the refresh token VSPC issued.
struct VeeamGrant {
    username: String,
    password: SecretString,
}

impl Grant for VeeamGrant {
    fn vendor(&self) -> Vendor {
        Vendor::Veeam
    }

    fn request(&self, refresh: Option<&str>) -> Req {
        let form = match refresh {
            Some(r) => vec![("grant_type".into(), "refresh_token".into()), ("refresh_token".into(), r.to_string())],
            None => vec![
                ("grant_type".into(), "password".into()),
                ("username".into(), self.username.clone()),
                ("password".into(), self.password.expose_secret().to_string()),
            ],
        };
        Req::post("/token").form(form).anonymous().idempotent()
    }

    fn refused(&self, resp: &Resp) -> VendorError {
        let j = resp.error_json();
        let why = j.get("error_description").or_else(|| j.get("error")).and_then(Json::as_str).unwrap_or("refused");
        VendorError::new(Vendor::Veeam, ErrorKind::Auth, "POST /token", format!("sign-in refused: {why}"))
            .with_hint("check connections.veeam.username and the password it references in tenantry.yaml")
    }
}

struct VeeamAuth(TokenSource<VeeamGrant>);

impl Auth for VeeamAuth {
    fn refused_hint(&self) -> String {
        "check connections.veeam.username, the password it references, and that the user may use the REST API".into()
    }

    fn headers<'a>(&'a self, http: &'a Http) -> BoxFut<'a, Result<Vec<(HeaderName, HeaderValue)>, VendorError>> {
        Box::pin(async move { Ok(vec![bearer_header(Vendor::Veeam, &self.0.bearer(http).await?)?]) })
    }

    fn invalidate(&self, sent: &[(HeaderName, HeaderValue)]) -> bool {
        self.0.invalidate(super::oauth::sent_bearer(sent));
        true
    }
}

pub struct Veeam {
    http: Http,
    auth: VeeamAuth,
    /// How often to poll an asynchronous action (VSPC users poll every 10 s; the sandbox is
    /// quick, so start small and back off).
    poll: Duration,
}

impl Veeam {
    pub fn new(conn: &Connection, secrets: &Secrets) -> Result<Self, VendorError> {
        let secret = |role: &str| {
            let r = conn.secrets.get(role).ok_or_else(|| {
                VendorError::new(Vendor::Veeam, ErrorKind::Auth, "connect", format!("no {role} configured"))
            })?;
            secrets.resolve(r).map_err(|e| VendorError::new(Vendor::Veeam, ErrorKind::Auth, "connect", e.to_string()))
        };
        Ok(Veeam {
            http: Http::new(Vendor::Veeam, &conn.base_url, &conn.limits)?.with_refusals(definitive),
            auth: VeeamAuth(TokenSource::new(
                VeeamGrant { username: conn.principal.clone().unwrap_or_default(), password: secret("password")? },
                Duration::from_secs(3600),
            )),
            poll: Duration::from_millis(100),
        })
    }

    async fn call(&self, req: Req) -> Result<Resp, VendorError> {
        self.http.send(&req, Some(&self.auth)).await
    }

    /// Fail on a non-success answer, with VSPC's `errors[].message`.
    async fn ok(&self, req: Req) -> Result<Resp, VendorError> {
        let op = req.describe();
        let resp = self.call(req).await?;
        if resp.status.is_success() {
            return Ok(resp);
        }
        Err(error(&op, &resp))
    }

    /// Every item of a paged list, decoded, which must agree with the total its pages name.
    async fn list<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        extra: &[(&str, String)],
    ) -> Result<Vec<T>, VendorError> {
        let pager = Pager::new(Vendor::Veeam, format!("GET {path}"));
        self.http
            .pages(pager, |page, step| async move {
                let mut req = Req::get(path).query("limit", PAGE).query("offset", page * step);
                for (k, v) in extra {
                    req = req.query(k, v);
                }
                let page: wire::Page<T> = self.ok(req).await?.decode()?;
                Ok((page.data, page.meta.paging_info.total))
            })
            .await
    }

    async fn companies(&self, filter: Option<Json>) -> Result<Vec<ObservedObject>, VendorError> {
        let mut extra = vec![("expand", "Organization".to_string())];
        if let Some(f) = filter {
            extra.push(("filter", f.to_string()));
        }
        let items: Vec<wire::Company> = self.list("/organizations/companies", &extra).await?;
        Ok(items.into_iter().map(company).collect())
    }

    /// VDC usage per month and tenant (VSPC 3.7): the only sign of VDC registration the API
    /// gives (providers.md 1.5). A console without the endpoint (before 3.7) shows none.
    async fn vdc_usage(&self, wanted: bool) -> Result<Vec<wire::VdcUsagePeriod>, VendorError> {
        if !wanted {
            return Ok(Vec::new());
        }
        // From the month before this one: usage reported long ago says only that the tenant was
        // registered then (and the current month may not be reported yet on its first days).
        let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
        let from = today.first_of_month().checked_sub(jiff::Span::new().months(1)).unwrap_or(today);
        match self.list("/pulse/monthlyUsages", &[("from", from.strftime("%Y-%m").to_string())]).await {
            Err(e) if e.kind == ErrorKind::NotFound => Ok(Vec::new()),
            other => other,
        }
    }

    async fn tenants(&self) -> Result<Vec<ObservedObject>, VendorError> {
        let items: Vec<wire::PulseTenant> = self.list("/pulse/tenants", &[]).await?;
        Ok(items.into_iter().map(tenant).collect())
    }

    /// Follow a 202 to its result: poll the action until it finishes, then read the result as
    /// `T` (a 200 is the result itself). Every answer on the way is decoded strictly: an
    /// action status tenantry does not know is an unreadable answer, not "still running".
    async fn follow<T: serde::de::DeserializeOwned>(&self, resp: Resp, op: &str) -> Result<T, VendorError> {
        if resp.status != reqwest::StatusCode::ACCEPTED {
            return resp.decode();
        }
        let location = resp
            .header("location")
            .map(str::to_string)
            .ok_or_else(|| VendorError::new(Vendor::Veeam, ErrorKind::Unknown, op, "202 without a Location"))?;
        // The console accepted the request: from here, an error while following it (a lost or
        // unreadable poll, a 404 for the action) says nothing about whether it was carried out.
        // Only the action's own failed result is a definitive answer.
        let unknown = |e: VendorError| VendorError {
            kind: ErrorKind::Unknown,
            message: format!("{}; the console had accepted it, so it may have been carried out", e.message),
            ..e
        };
        let location = location.as_str();
        let look = || async move {
            let action: wire::One<wire::ActionInfo> =
                self.ok(Req::get(location)).await.and_then(|r| r.decode()).map_err(unknown)?;
            match action.data.status {
                wire::ActionStatus::Succeed => {
                    let result = self.call(Req::get(format!("{location}/result"))).await.map_err(unknown)?;
                    if result.status.is_success() {
                        return result.decode().map(Some).map_err(unknown);
                    }
                    // 1500: the result is not there yet, although the action reads as finished.
                    if vspc_error(&result).and_then(|e| e.code) != Some(STILL_RUNNING) {
                        return Err(unknown(error(op, &result)));
                    }
                    Ok(None)
                }
                wire::ActionStatus::Failed | wire::ActionStatus::Canceled => {
                    let result = self.call(Req::get(format!("{location}/result"))).await.map_err(unknown)?;
                    Err(error(op, &result))
                }
                wire::ActionStatus::Running => Ok(None),
            }
        };
        // 60 looks, the pause doubling from `poll` up to 10 s.
        let backoff = ExponentialBuilder::new()
            .with_min_delay(self.poll)
            .with_max_delay(Duration::from_secs(10))
            .with_max_times(59);
        let waiting = |wait: Duration| {
            if wait >= super::http::VISIBLE_WAIT {
                tracing::warn!(vendor = %Vendor::Veeam, "{op}: the console is still running it; looking again in {}s", wait.as_secs());
            }
        };
        super::http::poll_until(backoff, look, waiting).await?.ok_or_else(|| {
            VendorError::new(Vendor::Veeam, ErrorKind::Unknown, op, "the asynchronous action did not finish in time")
        })
    }
}

fn company(c: wire::Company) -> ObservedObject {
    let org = c.embedded.and_then(|e| e.organization).unwrap_or_default();
    let mut fields = BTreeMap::new();
    for (ours, theirs) in ORG_FIELDS {
        fields.insert(ours.to_string(), org.get(*theirs).cloned().unwrap_or(Json::Null));
    }
    fields.insert("name".into(), json!(c.name));
    fields.insert("ownerUsername".into(), json!(c.owner_credentials.and_then(|o| o.user_name)));
    fields.insert("status".into(), json!(c.status));
    fields.insert("resellerUid".into(), json!(c.reseller_uid));
    fields.insert("organizationUid".into(), org.get("instanceUid").cloned().unwrap_or(Json::Null));
    ObservedObject {
        vendor: Vendor::Veeam,
        kind: "company".into(),
        id: c.instance_uid,
        natural_key: BTreeMap::from([("name".to_string(), c.name)]),
        parent_id: None,
        marker: org.get("companyId").and_then(Json::as_str).map(str::to_string),
        fields,
        version: None,
        state: ObjectState::Ready,
    }
}

fn tenant(t: wire::PulseTenant) -> ObservedObject {
    let state = match t.mapping_status.as_str() {
        "Mapped" => ObjectState::Ready,
        "FailedToMap" => ObjectState::Failed {
            message: format!("VCSP Pulse could not map the customer: {}", t.mapping_status_message.clone().unwrap_or_default()),
            hint: Some("check the customer in VCSP Pulse (ProPartner portal, Customers); once it is fixed, remove the Pulse tenant in the Service Provider Console so tenantry registers it again, or ask Veeam support".into()),
        },
        _ => ObjectState::Pending(Pending { what: "VCSP Pulse mapping (Veeam verifies the customer)".into(), since: None, expected: None, overdue: None, by: crate::provider::Party::Vendor }),
    };
    ObservedObject {
        vendor: Vendor::Veeam,
        kind: "pulse-tenant".into(),
        id: t.instance_uid,
        natural_key: BTreeMap::from([("name".to_string(), t.name)]),
        parent_id: t.mapped_master_organization_uid,
        marker: None,
        fields: BTreeMap::from([("mappingStatus".to_string(), json!(t.mapping_status))]),
        version: None,
        state,
    }
}

/// The Pulse tenants with VDC workloads in any reported month: VDC registered (and protecting
/// something). A registered tenant that has protected nothing yet does not show here.
fn vdc_registrations(tenants: &[ObservedObject], usage: &[wire::VdcUsagePeriod]) -> Vec<ObservedObject> {
    // The latest month with workloads, per tenant.
    let mut latest: BTreeMap<&str, (&str, &wire::TenantVdcUsage)> = BTreeMap::new();
    for period in usage {
        for t in period.tenants.iter().filter(|t| !t.workloads.is_empty()) {
            let entry = latest.entry(t.tenant_uid.as_str()).or_insert((period.month.as_str(), t));
            if period.month.as_str() >= entry.0 {
                *entry = (period.month.as_str(), t);
            }
        }
    }
    tenants
        .iter()
        .filter_map(|t| {
            let (month, usage) = latest.get(t.id.as_str())?;
            let mut products: Vec<&str> = usage.workloads.iter().filter_map(|w| w.product_name.as_deref()).collect();
            products.sort();
            products.dedup();
            let units: f64 = usage.workloads.iter().filter_map(|w| w.used_units).sum();
            Some(ObservedObject {
                vendor: Vendor::Veeam,
                kind: "vdc-registration".into(),
                id: t.id.clone(),
                natural_key: t.natural_key.clone(),
                parent_id: Some(t.id.clone()),
                marker: None,
                fields: BTreeMap::from([
                    ("vdcUsageMonth".to_string(), json!(month)),
                    ("vdcProducts".to_string(), json!(products)),
                    ("vdcUsedUnits".to_string(), json!(units)),
                ]),
                version: None,
                state: ObjectState::Ready,
            })
        })
        .collect()
}

/// VSPC's custom error codes that tenantry acts on (the 3.7 document's `ResponseError.code`).
const NAME_TAKEN: i64 = 1200;
const OWNER_TAKEN: i64 = 1201;
const ALREADY_MAPPED: i64 = 1301;
const STILL_RUNNING: i64 = 1500;

/// One `ResponseError` of a VSPC error answer (`{errors: [{message, type, code}]}`).
#[derive(Debug, Deserialize)]
struct VspcError {
    message: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<i64>,
}

/// The first error of an error answer, when the body is one.
fn vspc_error(resp: &Resp) -> Option<VspcError> {
    #[derive(Deserialize)]
    struct Body {
        errors: Vec<VspcError>,
    }
    serde_json::from_slice::<Body>(&resp.body).ok()?.errors.into_iter().next()
}

/// A code of VSPC's own (1200, 1301, ...), not an HTTP status carried in the body.
fn is_custom(code: i64) -> bool {
    !(100..=599).contains(&code)
}

/// The console answers every custom error code with status 520, the status its own server
/// failures get too ("All server errors (>=500) as well as errors with custom error codes are
/// returned with the 520 HTTP status code"). A 520 whose body carries a custom code is the
/// console's definitive answer: handed to the client, never retried as a failure, never read as
/// "may or may not have happened". Any other 5xx is a failure.
fn definitive(resp: &Resp) -> bool {
    resp.status.as_u16() == 520 && vspc_error(resp).and_then(|e| e.code).is_some_and(is_custom)
}

/// A VSPC error answer as a [`VendorError`], its kind from the error code and type first and the
/// HTTP status second.
fn error(op: &str, resp: &Resp) -> VendorError {
    let status = resp.status.as_u16();
    let e = vspc_error(resp);
    let code = e.as_ref().and_then(|e| e.code);
    let message = match e.as_ref().and_then(|e| e.message.as_deref()) {
        Some(m) => match code.filter(|&c| is_custom(c)) {
            Some(c) => format!("{m} (VSPC error {c})"),
            None => m.to_string(),
        },
        None => format!("HTTP {status}"),
    };
    let (kind, hint) = match (status, code, e.as_ref().and_then(|e| e.kind.as_deref())) {
        (_, _, Some("retryableLogical")) => (ErrorKind::Retryable, None),
        (401 | 403, _, _) | (_, _, Some("security")) => (ErrorKind::Auth, None),
        (_, Some(ALREADY_MAPPED), _) => {
            (ErrorKind::Conflict, Some("the company already has a VCSP Pulse tenant; the next plan reads it"))
        }
        (_, Some(NAME_TAKEN), _) => (
            ErrorKind::Rejected,
            Some("another company has this name in the Service Provider Console; the next plan shows it as a conflict"),
        ),
        (_, Some(OWNER_TAKEN), _) => {
            (ErrorKind::Rejected, Some("choose another services.veeam.owner.username for this customer"))
        }
        (_, Some(c), _) if is_custom(c) => (ErrorKind::Rejected, None),
        (s, _, _) => (ErrorKind::from_status(s), None),
    };
    let error = VendorError::new(Vendor::Veeam, kind, op, message);
    match hint {
        Some(h) => error.with_hint(h),
        None => error,
    }
}

impl VendorReader for Veeam {
    fn vendor(&self) -> Vendor {
        Vendor::Veeam
    }

    fn observe<'a>(&'a self, scope: &'a ObserveScope) -> BoxFut<'a, Result<Observation, VendorError>> {
        Box::pin(async move {
            let wants_vdc = scope.desired.iter().any(|d| d.key.kind == "vdc-registration");
            let (companies, tenants) = tokio::try_join!(self.companies(None), self.tenants())?;
            // After the two lists (not beside them): a console that fails them is not asked a
            // third time.
            let usage = self.vdc_usage(wants_vdc).await?;
            let registered = vdc_registrations(&tenants, &usage);
            let mut objects = companies;
            objects.extend(tenants);
            objects.extend(registered);
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
                "company" => {
                    let name = d.natural_key.values.get("name").cloned().unwrap_or_default();
                    let filter =
                        json!([{"property": "name", "operation": "equals", "collation": "ignorecase", "value": name}]);
                    Ok(self.companies(Some(filter)).await?.into_iter().next())
                }
                "pulse-tenant" => Ok(self.tenants().await?.into_iter().find(|t| t.parent_id.as_deref() == parent_id)),
                other => Err(VendorError::new(
                    Vendor::Veeam,
                    ErrorKind::Rejected,
                    format!("look up {}", d.title),
                    format!("tenantry cannot look up a Veeam {other}"),
                )),
            }
        })
    }
}

impl VendorWriter for Veeam {
    fn execute<'a>(&'a self, cx: &'a ActionContext<'a>) -> BoxFut<'a, Result<Outcome, VendorError>> {
        Box::pin(async move {
            let a = cx.action;
            let op = format!("{} {}", a.kind.word(), a.title);
            let fail = |m: &str| VendorError::new(Vendor::Veeam, ErrorKind::Rejected, &op, m);
            match (a.kind, a.key.kind.as_str()) {
                (ActionKind::Create, "company") => {
                    let d = a.object.as_ref().ok_or_else(|| fail("no object"))?;
                    let value = |f: &str| d.fields.get(f).and_then(|f| f.value.json()).cloned().unwrap_or(Json::Null);
                    let mut org = serde_json::Map::new();
                    for (ours, theirs) in ORG_FIELDS {
                        let v = value(ours);
                        if !v.is_null() {
                            org.insert(theirs.to_string(), v);
                        }
                    }
                    let password = match d.fields.get("ownerPassword").map(|f| &f.value) {
                        Some(FieldValue::Secret(r)) => cx.secrets.resolve(r).map_err(|e| fail(&e.to_string()))?,
                        _ => return Err(fail("no owner password")),
                    };
                    let body = json!({
                        "organizationInput": org,
                        "ownerCredentials": {"userName": value("ownerUsername"), "password": password.expose_secret()},
                        "isRestAccessEnabled": false,
                        "isAlarmDetectEnabled": false,
                    });
                    // The request id makes a replay within 5 minutes return the same action.
                    let req = Req::post("/organizations/companies")
                        .json(body)
                        .header(HeaderName::from_static("x-request-id"), cx.request_id.clone())
                        .idempotent();
                    let resp = self.ok(req).await?;
                    let result: wire::One<wire::Created> = self.follow(resp, &op).await?;
                    Ok(Outcome { vendor_id: Some(result.data.instance_uid), ..Outcome::default() })
                }
                (ActionKind::Sync | ActionKind::Adopt, "company") => {
                    let id = a.vendor_id.clone().ok_or_else(|| fail("no company id"))?;
                    let ops: Vec<Json> = a
                        .changes
                        .iter()
                        .filter_map(|c| {
                            let theirs = ORG_FIELDS.iter().find(|(o, _)| *o == c.field)?.1;
                            Some(json!({"op": "replace", "path": format!("/{theirs}"), "value": c.after.clone().unwrap_or(Json::Null)}))
                        })
                        .collect();
                    // Assigned to a VSPC reseller in the console: unassigned, so the MSP manages
                    // it directly again (`DELETE /organizations/resellers/{uid}/companies`).
                    let unassign = a
                        .changes
                        .iter()
                        .find(|c| c.field == "resellerUid" && c.after.as_ref().is_none_or(Json::is_null));
                    if let Some(reseller) = unassign.and_then(|c| c.before.as_ref()).and_then(Json::as_str) {
                        let req =
                            Req::new(reqwest::Method::DELETE, format!("/organizations/resellers/{reseller}/companies"))
                                .query("companyUid", &id);
                        let resp = self.ok(req).await?;
                        let _: serde::de::IgnoredAny = self.follow(resp, &op).await?;
                    }
                    if !ops.is_empty() {
                        // The organization's UID comes with `expand=Organization`, which the
                        // document defines for the list, not for `GET .../companies/{uid}`.
                        let filter = json!([{"property": "instanceUid", "operation": "equals", "value": id}]);
                        let current = self.companies(Some(filter)).await?;
                        let org_uid = current
                            .iter()
                            .find(|c| c.id == id)
                            .and_then(|c| c.fields.get("organizationUid"))
                            .and_then(Json::as_str)
                            .ok_or_else(|| fail("the company has no organization"))?
                            .to_string();
                        self.ok(Req::new(reqwest::Method::PATCH, format!("/organizations/{org_uid}"))
                            .json(Json::Array(ops))
                            .idempotent())
                            .await?;
                    }
                    Ok(Outcome { vendor_id: Some(id), ..Outcome::default() })
                }
                (ActionKind::Register, "pulse-tenant") => {
                    let company = cx.parent_id.clone().ok_or_else(|| fail("the company has no id"))?;
                    let req = Req::post("/pulse/tenants")
                        .query("companyUid", &company)
                        .query("rewriteExisting", "false")
                        .header(HeaderName::from_static("x-request-id"), cx.request_id.clone())
                        .idempotent();
                    let resp = self.ok(req).await?;
                    let result: wire::One<wire::Created> = self.follow(resp, &op).await?;
                    Ok(Outcome { vendor_id: Some(result.data.instance_uid), ..Outcome::default() })
                }
                (ActionKind::Adopt, _) => Ok(Outcome { vendor_id: a.vendor_id.clone(), ..Outcome::default() }),
                (ActionKind::Delete, "company") => {
                    let id = a.vendor_id.clone().ok_or_else(|| fail("no company id"))?;
                    let resp = self
                        .ok(Req::new(reqwest::Method::DELETE, format!("/organizations/companies/{id}"))
                            .query("removeAllAgents", "false"))
                        .await?;
                    // `EmptyResponse` (or the action's result): read, but nothing in it is needed.
                    let _: serde::de::IgnoredAny = self.follow(resp, &op).await?;
                    Ok(Outcome { vendor_id: Some(id), ..Outcome::default() })
                }
                (kind, object) => {
                    Err(fail(&format!("tenantry cannot {} a Veeam {object} through the API", kind.word())))
                }
            }
        })
    }
}
