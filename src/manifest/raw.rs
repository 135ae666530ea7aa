//! Raw manifest types: exactly what a user writes, and the source of the JSON Schemas in
//! `schemas/`. Nothing here is validated beyond shape; `validate` turns these into the domain
//! model in `crate::model`.
//!
//! Service fields are optional at this level because a `Profile` may supply them; whether a
//! customer's merged service block is complete is a semantic check with its own diagnostics.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::model::{
    AvePointAccountType, AvePointDataCenter, AvePointLicense, AvePointManagementMode, AvePointProduct, DattoManagedBy,
    DattoProduct, DattoRegion, DattoRetention, DattoSeatType, DattoTerm, PortalTaskExecutor, SecretRef,
    VdcPrimaryAdmin,
};

/// The patterns the schemas carry for what `validate` checks, so that an editor flags the same
/// mistakes (`tests/it/schemas.rs` checks that each pattern and its check agree).
///
/// `metadata.name` and every reference to one: a DNS label (`validate::is_dns_label`).
pub const DNS_LABEL: &str = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$";
/// A company's domain (`validate::is_domain`; its 253-character limit is `maxLength`).
pub const DOMAIN: &str = r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$";
/// An e-mail address (`validate::is_email`; a schema pattern cannot also limit the part before
/// the `@` to 64 characters).
pub const EMAIL: &str = r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$";

/// The start of an http(s) URL (`validate` also parses the rest; a pattern only checks that it
/// is an http or https URL with a host).
pub const HTTP_URL: &str = r"^\s*[Hh][Tt][Tt][Pp][Ss]?://[^/?#\s]";
/// An ISO 3166-1 alpha-2 country code (`validate::is_country`), as one alternation.
pub fn country_pattern() -> String {
    super::validate::country_pattern()
}

/// The only manifest API version this build understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ApiVersion {
    #[serde(rename = "tenantry.dev/v1")]
    V1,
}

/// Identity and labels shared by every kind.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Metadata {
    /// Stable identity: a DNS label (lowercase letters, digits and `-`, at most 63 characters).
    /// Renaming a company changes `spec`, never this.
    #[schemars(regex(pattern = DNS_LABEL), length(max = 63))]
    pub name: String,
    /// Free-form labels for selection and reporting.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Notes for people; ignored by tenantry.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

// ---------------------------------------------------------------------------------------------
// Customer, Reseller, Profile

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum CustomerKind {
    Customer,
}

/// One end customer: its company, contacts, optional reseller and profiles, and its services.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "tenantry Customer")]
pub struct CustomerDocument {
    pub api_version: ApiVersion,
    pub kind: CustomerKind,
    pub metadata: Metadata,
    pub spec: CustomerSpec,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CustomerSpec {
    /// The reseller (`metadata.name` of a `Reseller`) this customer sits under; omitted means
    /// directly under the MSP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DNS_LABEL))]
    pub reseller: Option<String>,
    /// Profiles applied in order before this customer's own `services` (which win). Mappings
    /// merge; lists replace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(regex(pattern = DNS_LABEL)))]
    pub profiles: Vec<String>,
    pub company: Company,
    /// Named contacts (`primary`, `billing`, ...) that service blocks refer to by name.
    #[serde(default)]
    pub contacts: BTreeMap<String, Contact>,
    #[serde(default)]
    pub services: CustomerServices,
    /// What `tenantry serve` does when this one drifts (changed at a vendor while its manifest
    /// did not): `report` or `correct`. Overrides `serve --drift` and `policies.drift`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<crate::model::DriftPolicy>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ResellerKind {
    Reseller,
}

/// A reseller (sub-partner) whose customers sit under it in the vendors with a reseller
/// hierarchy (Acronis, WatchGuard/Panda).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "tenantry Reseller")]
pub struct ResellerDocument {
    pub api_version: ApiVersion,
    pub kind: ResellerKind,
    pub metadata: Metadata,
    pub spec: ResellerSpec,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResellerSpec {
    /// What `tenantry serve` does when this one drifts (changed at a vendor while its manifest
    /// did not): `report` or `correct`. Overrides `serve --drift` and `policies.drift`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<crate::model::DriftPolicy>,
    pub company: Company,
    #[serde(default)]
    pub contacts: BTreeMap<String, Contact>,
    /// Only the vendors with a reseller hierarchy.
    #[serde(default)]
    pub services: ResellerServices,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ProfileKind {
    Profile,
}

/// Reusable service defaults, merged into every customer that lists the profile.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "tenantry Profile")]
pub struct ProfileDocument {
    pub api_version: ApiVersion,
    pub kind: ProfileKind,
    pub metadata: Metadata,
    pub spec: ProfileSpec,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProfileSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub services: CustomerServices,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Company {
    /// The company's legal or trading name, as the vendors' portals show it.
    pub name: String,
    /// The company's own DNS domain (not a public mail domain).
    #[schemars(regex(pattern = DOMAIN), length(max = 253))]
    pub domain: String,
    /// The MSP's account number for this company; unique across all manifests.
    pub account_number: String,
    pub address: Address,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Address {
    pub street: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street2: Option<String>,
    pub city: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    pub postcode: String,
    /// ISO 3166-1 alpha-2 country code, e.g. `GB`.
    #[schemars(regex(pattern = country_pattern()))]
    pub country: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Contact {
    pub first_name: String,
    pub last_name: String,
    #[schemars(regex(pattern = EMAIL), email)]
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
}

/// A person named either by a contact (`contact: primary`) or inline.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PersonRef {
    /// Name of an entry in `spec.contacts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = EMAIL), email)]
    pub email: Option<String>,
}

/// Service blocks of a customer (or a profile). A service is used when its block is present;
/// `null` removes a block a profile supplied.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CustomerServices {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub veeam: Option<VeeamService>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datto: Option<DattoService>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub velocloud: Option<VeloCloudService>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acronis: Option<AccountService>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watchguard: Option<AccountService>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avepoint: Option<AvePointService>,
}

/// Service blocks of a reseller: only vendors with a reseller hierarchy.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResellerServices {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acronis: Option<AccountService>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watchguard: Option<AccountService>,
}

// ---------------------------------------------------------------------------------------------
// Veeam

/// Veeam Data Cloud through the Service Provider Console: the company, its VCSP Pulse tenant,
/// and VDC registration. Company name and address come from `spec.company`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VeeamService {
    /// The company's owner account in the Service Provider Console.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<VeeamOwner>,
    /// Register the company as a VCSP Pulse tenant (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pulse: Option<bool>,
    /// Register the customer for Veeam Data Cloud (a portal task in VCSP Pulse).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vdc: Option<VdcRegistration>,
    /// Adopt an existing company: its `instanceUid` in the Service Provider Console.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VeeamOwner {
    pub username: Option<String>,
    pub password: Option<SecretRef>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VdcRegistration {
    /// Who administers the customer's Veeam Data Cloud.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_admin: Option<VdcPrimaryAdmin>,
    /// The primary administrator (customer-managed: must be a Microsoft 365 account of the
    /// customer's domain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<PersonRef>,
}

// ---------------------------------------------------------------------------------------------
// Datto

/// Datto SaaS Protection: the fields of the portal's "Add SaaS Protection Client" form, plus seat
/// licensing synced through the API.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DattoService {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<DattoProduct>,
    /// Region where the data is stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<DattoRegion>,
    /// Commitment term. Datto refuses 1 year -> month-to-month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<DattoTerm>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<DattoRetention>,
    /// Who manages the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<DattoManagedBy>,
    /// The client user Datto e-mails to authorize the backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_user: Option<DattoClientUser>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licensing: Option<DattoLicensing>,
    /// The portal's required acknowledgement of the service terms; must be `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledge_terms: Option<bool>,
    /// Adopt an existing client: its `saasCustomerId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DattoClientUser {
    /// Name of an entry in `spec.contacts` (first name, last name and e-mail come from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = EMAIL), email)]
    pub email: Option<String>,
    /// International dialling code of the mobile phone, e.g. `+44`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DattoLicensing {
    /// License new seats automatically (seats over the cap are skipped by Datto).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_add: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<DattoCap>,
    /// Seat types tenantry keeps licensed (default `[User]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seat_types: Option<Vec<DattoSeatType>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DattoCap {
    pub enabled: Option<bool>,
    /// The most seats that may be licensed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seats: Option<u32>,
}

// ---------------------------------------------------------------------------------------------
// VeloCloud

/// VMware VeloCloud SD-WAN: a partner customer on the Orchestrator. Company name, domain,
/// account number and address come from `spec.company`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VeloCloudService {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<VeloCloudAccess>,
    /// The customer's initial administrator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<VeloCloudAdmin>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<VeloCloudConfiguration>,
    /// Gateway pool name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_pool: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_images: Option<VeloCloudImages>,
    /// Edge licence names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge_licenses: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analytics: Option<bool>,
    /// Adopt an existing customer: its enterprise id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VeloCloudAccess {
    /// Partner Support Access (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_support: Option<bool>,
    /// VMware Support Access (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vmware_support: Option<bool>,
    /// VMware User Management Access (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_management: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VeloCloudAdmin {
    /// Login in `user@domain` form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = EMAIL), email)]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretRef>,
    /// Name of an entry in `spec.contacts` for first name, last name, e-mail and phones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = EMAIL), email)]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
}

/// Where the customer's configuration comes from: exactly one of these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum VeloCloudConfiguration {
    /// Operator profile name.
    Profile(String),
    /// Operator profile (configuration) id.
    ConfigurationId(u64),
    /// `metadata.name` of another customer whose configuration to clone.
    CloneFrom(#[schemars(regex(pattern = DNS_LABEL))] String),
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VeloCloudImages {
    /// Let the customer manage software images; then `images` may list several and `default`
    /// names the default. Without it, exactly one image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manage: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Acronis and WatchGuard

/// Acronis or WatchGuard (Panda): the tenant/account plus its administrator. The role follows
/// the kind (Reseller or Customer); the parent follows `spec.reseller`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AccountService {
    /// Unique login of the administrator (must differ from the e-mail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Corporate e-mail; activation goes there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = EMAIL), email)]
    pub email: Option<String>,
    /// Administrator phone (WatchGuard requires one; defaults to the primary contact's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Name of an entry in `spec.contacts` for the administrator's name (default `primary`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// Adopt an existing tenant/account: its id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// AvePoint

/// AvePoint Elements: onboarding, services, management mode, tags and reports.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AvePointService {
    /// How the customer's tenant is connected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_type: Option<AvePointAccountType>,
    /// The customer's login e-mail in Elements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = EMAIL), email)]
    pub registration_account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretRef>,
    /// ISO 3166-1 alpha-2; defaults to the company's country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = country_pattern()))]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_center: Option<AvePointDataCenter>,
    /// The customer's Microsoft 365 / Google / Salesforce tenant (directory id or primary
    /// domain); defaults to the company domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<AvePointServiceItem>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management_mode: Option<AvePointManagementMode>,
    /// Set at onboarding only (later edits are portal tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_reports: Option<AvePointBillingReports>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_notification_profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_reports: Option<AvePointReports>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hide_expired_services: Option<bool>,
    /// Adopt an existing customer: its Elements customer id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AvePointServiceItem {
    pub product: AvePointProduct,
    /// `trial` (default) or `enterprise` (pooled seats).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<AvePointLicense>,
    /// Seats taken from the partner pool (enterprise licences).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seats: Option<u32>,
    /// Backup retention in years (Cloud Backup products).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_years: Option<u32>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AvePointReports {
    pub send: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(regex(pattern = EMAIL), email))]
    pub recipients: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AvePointBillingReports {
    pub send: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(regex(pattern = EMAIL), email))]
    pub recipients: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_profile: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// tenantry.yaml

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ConfigKind {
    Config,
}

/// The root `tenantry.yaml`: vendor connections, state backend, policies and portal tasks.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "tenantry configuration (tenantry.yaml)")]
pub struct ConfigDocument {
    pub api_version: ApiVersion,
    pub kind: ConfigKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    pub spec: ConfigSpec,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConfigSpec {
    #[serde(default)]
    pub connections: Connections,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StateConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<Policies>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portal_tasks: Option<PortalTaskConfig>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StateConfig {
    /// Where state lives: `sqlite:PATH` (relative to the manifest directory). Default
    /// `sqlite:.tenantry/state.db`.
    pub url: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Policies {
    /// What `tenantry serve` does with drift (a vendor object changed at the vendor while its
    /// manifest did not): `report` (default) or `correct`. `serve --drift` and a customer's
    /// `spec.drift` override it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<crate::model::DriftPolicy>,
    /// Delete vendor objects tenantry owns when their manifest is removed (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune: Option<bool>,
    /// Allow one-way changes without `--allow-irreversible` (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_irreversible: Option<bool>,
    /// How long a Datto client authorization may stay pending before tenantry schedules the
    /// "check authorization" portal task again, e.g. `72h` (default `72h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datto_authorization_expiry: Option<String>,
    /// How long an AvePoint authorization link is valid (default `72h`, as AvePoint documents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avepoint_link_expiry: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PortalTaskConfig {
    /// `record` (default: stored and printed), `webhook` or `command`.
    pub executor: PortalTaskExecutor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandConfig>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WebhookConfig {
    #[schemars(regex(pattern = HTTP_URL), url)]
    pub url: String,
    /// Extra headers; values are secret references (e.g. an authorization token).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, SecretRef>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CommandConfig {
    /// Program to run with the task JSON on standard input.
    pub program: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
}

/// Per-vendor connections. A vendor without a connection cannot be planned for.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Connections {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub veeam: Option<VeeamConnection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datto: Option<DattoConnection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub velocloud: Option<VeloCloudConnection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acronis: Option<AcronisConnection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watchguard: Option<WatchGuardConnection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avepoint: Option<AvePointConnection>,
}

/// Request pacing for one vendor connection.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Limits {
    /// Steady request rate (default 10/s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_second: Option<u32>,
    /// Requests allowed in a burst (default = requestsPerSecond).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    /// Actions run at once against this vendor (default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// Per-request timeout in seconds (default 30; Datto's slow reads want 90).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u32>,
    /// How long one attempt may take to connect, e.g. `3s` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<String>,
    /// How long one request may keep retrying failures (no connection, 5xx, timeouts), e.g.
    /// `15s` (the default): an unreachable vendor fails within it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_budget: Option<String>,
    /// The longest a vendor's `Retry-After` is waited for, e.g. `60s` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retry_after: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VeeamConnection {
    /// e.g. `https://vspc.example.net:1280/api/v3`
    #[schemars(regex(pattern = HTTP_URL), url)]
    pub base_url: String,
    pub username: String,
    pub password: SecretRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DattoConnection {
    /// e.g. `https://api.datto.com/v1`
    #[schemars(regex(pattern = HTTP_URL), url)]
    pub base_url: String,
    pub public_key: SecretRef,
    pub secret_key: SecretRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VeloCloudConnection {
    /// e.g. `https://vco.example.net/portal/rest`
    #[schemars(regex(pattern = HTTP_URL), url)]
    pub base_url: String,
    /// API token (`Authorization: Token ...`).
    pub token: SecretRef,
    /// Edge licence ids by the names manifests use. VCO API v1 (5.0.0) has no method that
    /// lists edge licences, so names are resolved here.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub edge_licenses: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AcronisConnection {
    /// e.g. `https://eu2-cloud.acronis.com/api/2`
    #[schemars(regex(pattern = HTTP_URL), url)]
    pub base_url: String,
    pub client_id: String,
    pub client_secret: SecretRef,
    /// The MSP's own partner tenant id (parent of resellers and direct customers).
    pub tenant_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WatchGuardConnection {
    /// e.g. `https://api.deu.cloud.watchguard.com`
    #[schemars(regex(pattern = HTTP_URL), url)]
    pub base_url: String,
    pub access_id: String,
    pub password: SecretRef,
    pub api_key: SecretRef,
    /// The MSP's own account id (parent of resellers and direct customers).
    pub account_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AvePointConnection {
    /// e.g. `https://graph.avepointonlineservices.com`
    #[schemars(regex(pattern = HTTP_URL), url)]
    pub base_url: String,
    /// e.g. `https://identity.avepointonlineservices.com`
    #[schemars(regex(pattern = HTTP_URL), url)]
    pub identity_url: String,
    pub client_id: String,
    pub client_secret: SecretRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
}
