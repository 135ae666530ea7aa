//! The validated desired state: what the manifests declare, after profiles are merged, defaults
//! applied and every reference checked. Everything downstream (providers, the planner) reads
//! this, never YAML.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How every owner marker tenantry writes begins: `tenantry:acme`.
pub const MARKER_PREFIX: &str = "tenantry:";

/// The six vendors tenantry drives, in the order plans list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    Veeam,
    Datto,
    Velocloud,
    Acronis,
    Watchguard,
    Avepoint,
}

impl Vendor {
    pub const ALL: [Vendor; 6] =
        [Vendor::Veeam, Vendor::Datto, Vendor::Velocloud, Vendor::Acronis, Vendor::Watchguard, Vendor::Avepoint];

    pub fn id(self) -> &'static str {
        match self {
            Vendor::Veeam => "veeam",
            Vendor::Datto => "datto",
            Vendor::Velocloud => "velocloud",
            Vendor::Acronis => "acronis",
            Vendor::Watchguard => "watchguard",
            Vendor::Avepoint => "avepoint",
        }
    }

    pub fn parse(s: &str) -> Option<Vendor> {
        Vendor::ALL.into_iter().find(|v| v.id() == s)
    }

    /// The name people know the product by.
    pub fn title(self) -> &'static str {
        match self {
            Vendor::Veeam => "Veeam",
            Vendor::Datto => "Datto SaaS Protection",
            Vendor::Velocloud => "VMware VeloCloud",
            Vendor::Acronis => "Acronis",
            Vendor::Watchguard => "WatchGuard (Panda)",
            Vendor::Avepoint => "AvePoint Elements",
        }
    }
}

impl fmt::Display for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// Which kind of manifest object owns a vendor object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum OwnerKind {
    Reseller,
    Customer,
}

/// A manifest object: `Customer/acme`, `Reseller/northwind`. Resellers sort first, so plans list
/// them before the customers that depend on them. In JSON it is the string `Customer/acme`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ManifestRef {
    pub kind: OwnerKind,
    pub name: String,
}

impl ManifestRef {
    pub fn customer(name: impl Into<String>) -> Self {
        ManifestRef { kind: OwnerKind::Customer, name: name.into() }
    }
    pub fn reseller(name: impl Into<String>) -> Self {
        ManifestRef { kind: OwnerKind::Reseller, name: name.into() }
    }

    /// Parse `Customer/acme` or `Reseller/northwind` (kind case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        let (kind, name) = s.split_once('/')?;
        let kind = match kind.to_ascii_lowercase().as_str() {
            "customer" => OwnerKind::Customer,
            "reseller" => OwnerKind::Reseller,
            _ => return None,
        };
        (!name.is_empty()).then(|| ManifestRef { kind, name: name.to_string() })
    }

    /// The marker tenantry writes into vendor fields that can carry one.
    pub fn owner_marker(&self) -> String {
        format!("{MARKER_PREFIX}{}", self.name)
    }
}

impl Serialize for ManifestRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ManifestRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ManifestRef::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("`{s}` is not Customer/NAME or Reseller/NAME")))
    }
}

impl schemars::JsonSchema for ManifestRef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ManifestRef".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^(Customer|Reseller)/[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
            "description": "A manifest object: `Customer/NAME` or `Reseller/NAME`."
        })
    }
}

impl fmt::Display for ManifestRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            OwnerKind::Customer => "Customer",
            OwnerKind::Reseller => "Reseller",
        };
        write!(f, "{kind}/{}", self.name)
    }
}

/// A place in the manifests, for hints that tell the user what to edit.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceRef {
    pub file: String,
    pub line: u32,
    pub column: u32,
    /// The field path at that place, e.g. `spec.services.velocloud`.
    pub path: String,
}

impl fmt::Display for SourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub street: String,
    pub street2: Option<String>,
    pub city: String,
    pub state: Option<String>,
    pub postcode: String,
    pub country: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Company {
    pub name: String,
    pub domain: String,
    pub account_number: String,
    pub address: Address,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: Option<String>,
    pub mobile: Option<String>,
}

/// Where to put `externalId:` to adopt an existing vendor object, and the id if already there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Adoption {
    pub external_id: Option<String>,
    pub at: SourceRef,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Veeam {
    pub owner_username: String,
    pub owner_password: SecretRef,
    pub pulse: bool,
    pub vdc: Option<Vdc>,
    pub adoption: Adoption,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vdc {
    pub primary_admin: VdcPrimaryAdmin,
    pub admin: Option<Person>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Datto {
    pub product: DattoProduct,
    pub region: DattoRegion,
    pub term: DattoTerm,
    pub retention: DattoRetention,
    pub managed_by: DattoManagedBy,
    pub client_user: Option<DattoClientUser>,
    pub auto_add: bool,
    /// `None` = no license cap.
    pub cap: Option<u32>,
    pub seat_types: BTreeSet<DattoSeatType>,
    pub adoption: Adoption,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DattoClientUser {
    pub person: Person,
    pub country_code: String,
    pub mobile: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VeloCloud {
    pub partner_support: bool,
    pub vmware_support: bool,
    pub user_management: bool,
    pub admin_username: String,
    pub admin_password: SecretRef,
    pub admin: Person,
    pub configuration: VeloCloudConfiguration,
    pub gateway_pool: String,
    pub manage_images: bool,
    pub images: Vec<String>,
    pub default_image: String,
    pub edge_licenses: Vec<String>,
    pub analytics: bool,
    pub adoption: Adoption,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum VeloCloudConfiguration {
    Profile(String),
    ConfigurationId(u64),
    /// `metadata.name` of another customer whose configuration is cloned.
    CloneFrom(String),
}

/// Acronis or WatchGuard: the tenant/account and its administrator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountService {
    pub username: String,
    pub email: String,
    pub phone: Option<String>,
    pub admin: Person,
    pub adoption: Adoption,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvePoint {
    pub account_type: AvePointAccountType,
    pub registration_account: String,
    pub password: SecretRef,
    pub country: String,
    pub data_center: AvePointDataCenter,
    pub tenant: String,
    pub services: Vec<AvePointServiceItem>,
    pub management_mode: AvePointManagementMode,
    pub tags: Vec<String>,
    pub billing_reports: Reports,
    pub billing_profile: Option<String>,
    pub job_notification_profile: Option<String>,
    pub service_reports: Reports,
    pub hide_expired_services: bool,
    pub contact: Person,
    pub adoption: Adoption,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvePointServiceItem {
    pub product: AvePointProduct,
    pub license: AvePointLicense,
    pub seats: Option<u32>,
    pub retention_years: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reports {
    pub send: bool,
    pub recipients: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Services {
    pub veeam: Option<Veeam>,
    pub datto: Option<Datto>,
    pub velocloud: Option<VeloCloud>,
    pub acronis: Option<AccountService>,
    pub watchguard: Option<AccountService>,
    pub avepoint: Option<AvePoint>,
}

impl Services {
    pub fn vendors(&self) -> Vec<Vendor> {
        let mut v = Vec::new();
        if self.veeam.is_some() {
            v.push(Vendor::Veeam);
        }
        if self.datto.is_some() {
            v.push(Vendor::Datto);
        }
        if self.velocloud.is_some() {
            v.push(Vendor::Velocloud);
        }
        if self.acronis.is_some() {
            v.push(Vendor::Acronis);
        }
        if self.watchguard.is_some() {
            v.push(Vendor::Watchguard);
        }
        if self.avepoint.is_some() {
            v.push(Vendor::Avepoint);
        }
        v
    }
}

/// What `tenantry serve` does with drift: a vendor object changed at the vendor while its
/// manifest did not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema, clap::ValueEnum)]
#[serde(rename_all = "camelCase")]
pub enum DriftPolicy {
    /// Show it (log, `/metrics`, notifications) and leave the vendor as it is.
    #[default]
    Report,
    /// Set the vendor back to the manifests.
    Correct,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// `spec.drift`: overrides `serve --drift` and `policies.drift` for this customer.
    pub drift: Option<DriftPolicy>,
    pub reseller: Option<String>,
    pub profiles: Vec<String>,
    pub company: Company,
    pub contacts: BTreeMap<String, Person>,
    pub services: Services,
    pub origin: SourceRef,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reseller {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// `spec.drift`: overrides `serve --drift` and `policies.drift` for this reseller.
    pub drift: Option<DriftPolicy>,
    pub company: Company,
    pub contacts: BTreeMap<String, Person>,
    /// Only `acronis` and `watchguard` are ever set.
    pub services: Services,
    pub origin: SourceRef,
}

/// A vendor connection from `tenantry.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub vendor: Vendor,
    pub base_url: String,
    /// Extra endpoint (AvePoint's identity host).
    pub identity_url: Option<String>,
    /// Non-secret identifiers: username, client id, access id.
    pub principal: Option<String>,
    /// Secret credentials by role (`password`, `token`, `clientSecret`, `apiKey`, ...).
    pub secrets: BTreeMap<String, SecretRef>,
    /// The MSP's own tenant/account id where the vendor needs one (Acronis, WatchGuard).
    pub home: Option<String>,
    /// Vendor ids by name for things the vendor API cannot list (VeloCloud edge licences).
    #[serde(default)]
    pub ids: BTreeMap<String, String>,
    pub limits: Limits,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub requests_per_second: u32,
    pub burst: u32,
    pub concurrency: u32,
    pub timeout: Duration,
    /// How long to back off after a 429 that names no wait (the VCO's documented 5 s penalty);
    /// `None` uses the vendor's default.
    pub penalty: Option<Duration>,
    /// How long one attempt may take to connect.
    pub connect_timeout: Duration,
    /// How long one request may keep retrying failures (no connection, 5xx, a timeout): no
    /// retry starts past it, and a retry after a failure to connect only when that attempt can
    /// still connect within it. Waits a vendor names (a 429's `Retry-After`) count towards it
    /// but are not cut by it; they are bounded by the attempts and `max_retry_after`.
    pub retry_budget: Duration,
    /// The longest a vendor's `Retry-After` is waited for; past it the request is tried again.
    pub max_retry_after: Duration,
}

impl Limits {
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
    pub const DEFAULT_RETRY_BUDGET: Duration = Duration::from_secs(15);
    pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            requests_per_second: 10,
            burst: 10,
            concurrency: 4,
            timeout: Duration::from_secs(30),
            penalty: None,
            connect_timeout: Limits::DEFAULT_CONNECT_TIMEOUT,
            retry_budget: Limits::DEFAULT_RETRY_BUDGET,
            max_retry_after: Limits::DEFAULT_MAX_RETRY_AFTER,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policies {
    /// What `serve` does with drift unless `--drift` or a customer's `spec.drift` says.
    pub drift: Option<DriftPolicy>,
    pub prune: bool,
    pub allow_irreversible: bool,
    pub datto_authorization_expiry: Duration,
    pub avepoint_link_expiry: Duration,
}

impl Default for Policies {
    fn default() -> Self {
        Policies {
            drift: None,
            prune: false,
            allow_irreversible: false,
            datto_authorization_expiry: Duration::from_secs(72 * 3600),
            avepoint_link_expiry: Duration::from_secs(72 * 3600),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PortalTaskDelivery {
    #[default]
    Record,
    Webhook {
        url: String,
        headers: BTreeMap<String, SecretRef>,
    },
    Command {
        program: String,
        args: Vec<String>,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    pub connections: BTreeMap<Vendor, Connection>,
    pub state_url: Option<String>,
    pub policies: Policies,
    pub portal_tasks: PortalTaskDelivery,
    /// Where `tenantry.yaml` was read from (for messages); `None` when absent.
    pub origin: Option<SourceRef>,
}

/// Everything the manifests declare, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredState {
    pub config: Config,
    pub resellers: BTreeMap<String, Reseller>,
    pub customers: BTreeMap<String, Customer>,
    /// Profile names, for reference in messages.
    pub profiles: BTreeSet<String>,
}

impl DesiredState {
    /// The company of a manifest object.
    pub fn company(&self, owner: &ManifestRef) -> Option<&Company> {
        match owner.kind {
            OwnerKind::Customer => self.customers.get(&owner.name).map(|c| &c.company),
            OwnerKind::Reseller => self.resellers.get(&owner.name).map(|r| &r.company),
        }
    }

    /// Drop every manifest object not selected by `filter` (plan `--target` / `--exclude`).
    /// A selected customer keeps what it is planned against ([`DesiredState::needs`]), so
    /// dependencies stay plannable.
    pub fn retain(&mut self, keep: impl Fn(&ManifestRef) -> bool) {
        let selected: Vec<ManifestRef> = self.customers.keys().map(ManifestRef::customer).filter(|r| keep(r)).collect();
        let needed: BTreeSet<ManifestRef> = selected.iter().flat_map(|c| self.needs(c)).collect();
        self.customers.retain(|name, _| {
            let r = ManifestRef::customer(name.clone());
            keep(&r) || needed.contains(&r)
        });
        self.resellers.retain(|name, _| {
            let r = ManifestRef::reseller(name.clone());
            keep(&r) || needed.contains(&r)
        });
    }

    /// What planning `owner` alone reads besides it: a customer's reseller (its objects sit
    /// under the reseller's), and the customer its VeloCloud configuration is cloned from (the
    /// clone's source must exist first, and is compared by its company name).
    pub fn needs(&self, owner: &ManifestRef) -> Vec<ManifestRef> {
        let Some(c) = (owner.kind == OwnerKind::Customer).then(|| self.customers.get(&owner.name)).flatten() else {
            return Vec::new();
        };
        let mut out: Vec<ManifestRef> = c.reseller.iter().map(ManifestRef::reseller).collect();
        if let Some(VeloCloudConfiguration::CloneFrom(source)) = c.services.velocloud.as_ref().map(|v| &v.configuration)
            && self.customers.contains_key(source)
        {
            out.push(ManifestRef::customer(source));
            // Its reseller too, or the source's own objects could not be planned.
            out.extend(self.customers.get(source).and_then(|s| s.reseller.as_ref()).map(ManifestRef::reseller));
        }
        out
    }
}

/// Parse a duration in jiff's friendly format: `72h`, `30m`, `10s`, `500ms`, `7d`, `1h30m`,
/// `1.5h`, `2 hours`, `1h 30m` (or ISO 8601, `PT1H30M`). The one duration syntax of the manifests
/// and the command line. A day is 24 hours here; months and years, negative durations and bare
/// numbers (no unit) are refused.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() || text.parse::<f64>().is_ok() {
        return None;
    }
    let span: jiff::Span = text.parse().ok()?;
    if span.is_negative() {
        return None;
    }
    let d = span.to_duration(jiff::SpanRelativeTo::days_are_24_hours()).ok()?;
    Duration::try_from(d).ok()
}

/// Format a duration the way `parse_duration` reads it (`3d4h`, `10m`, `0s`), in whole seconds
/// (jiff's friendly format, compact, days of 24 hours).
pub fn format_duration(d: Duration) -> String {
    use jiff::fmt::friendly::{Designator, Spacing, SpanPrinter};
    let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    let round = jiff::SpanRound::new().largest(jiff::Unit::Day).days_are_24_hours();
    let span = jiff::Span::new().try_seconds(secs).and_then(|s| s.round(round));
    match span {
        Ok(span) => SpanPrinter::new().designator(Designator::Compact).spacing(Spacing::None).span_to_string(&span),
        // Beyond what a span holds (about 600 years): still readable.
        Err(_) => format!("{secs}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip() {
        assert_eq!(parse_duration("72h"), Some(Duration::from_secs(72 * 3600)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1h 30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2 hours"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("PT1H30M"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration("-5m"), None);
        assert_eq!(parse_duration("5m ago"), None);
        assert_eq!(parse_duration("1mo"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_secs(3 * 86_400 + 60)), "3d1m");
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1s");
        assert_eq!(format_duration(Duration::from_secs(73 * 3600)), "3d1h");
        assert_eq!(format_duration(Duration::MAX), format!("{}s", i64::MAX));
        for d in [Duration::from_secs(59), Duration::from_secs(3601), Duration::from_secs(7 * 86_400 + 1)] {
            assert_eq!(parse_duration(&format_duration(d)), Some(d), "{d:?}");
        }
    }

    #[test]
    fn manifest_refs_parse_and_order_resellers_first() {
        let c = ManifestRef::parse("customer/acme").unwrap();
        let r = ManifestRef::parse("Reseller/northwind").unwrap();
        assert!(r < c);
        assert_eq!(c.to_string(), "Customer/acme");
        assert_eq!(ManifestRef::parse("Profile/x"), None);
    }
}

// ---------------------------------------------------------------------------------------------
// Value types a manifest names directly (the raw manifest types in `manifest::raw` use these)

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AvePointAccountType {
    /// Microsoft 365 global admin (consent through an authorization link).
    M365GlobalAdmin,
    /// Microsoft 365 US Government global admin (consent through an authorization link).
    M365UsGovernmentGlobalAdmin,
    /// Google super admin (consent through an authorization link).
    GoogleSuperAdmin,
    /// Salesforce system admin (consent through an authorization link).
    SalesforceSystemAdmin,
    /// A local Elements account; no tenant consent needed.
    LocalAccount,
    /// An authorization link sent to the customer's contacts.
    AuthorizationLink,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AvePointDataCenter {
    NorthEurope,
    WestEurope,
    UkSouth,
    GermanyWestCentral,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AvePointLicense {
    Trial,
    Enterprise,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AvePointManagementMode {
    Partner,
    Customer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AvePointProduct {
    #[default]
    CloudBackupM365,
    CloudBackupGoogleWorkspace,
    CloudBackupExpress,
    BaselineManagement,
    WorkspaceManagement,
    UserDeviceManagement,
    StorageOptimization,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum DattoManagedBy {
    Client,
    Partner,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum DattoProduct {
    Office365,
    GoogleWorkspace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum DattoRegion {
    Us,
    Ca,
    Uk,
    Eu,
    Au,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum DattoRetention {
    /// Infinite Cloud Retention (ICR).
    Infinite,
    /// Time Based Retention (TBR).
    TimeBased,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub enum DattoSeatType {
    User,
    SharedMailbox,
    Site,
    TeamSite,
    Team,
    SharedDrive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum DattoTerm {
    MonthToMonth,
    OneYear,
    ThreeYear,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum PortalTaskExecutor {
    #[default]
    Record,
    Webhook,
    Command,
}

/// A reference to a secret. Secrets never sit in manifests: tenantry resolves the reference only
/// while applying, and never prints, logs or stores the value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum SecretRef {
    /// Read from this environment variable.
    Env(String),
    /// Read from this file (relative to the manifest directory); surrounding whitespace is trimmed.
    File(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum VdcPrimaryAdmin {
    /// Customer Managed: a customer's Microsoft 365 account administers VDC.
    CustomerManaged,
    /// Partner Managed: the MSP administers VDC.
    PartnerManaged,
}
