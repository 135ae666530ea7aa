//! The pure half of each vendor: which objects the manifests want, with their natural keys,
//! owner markers, fields and rules. One module per vendor; no I/O anywhere here.

mod acronis;
mod avepoint;
mod datto;
mod veeam;
mod velocloud;
mod watchguard;

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};

use super::{Dependency, DesiredObject, Field, NaturalKey, Need, ObjectKey, Realize, VendorModel};
use crate::model::{Adoption, Company, DesiredState, ManifestRef, Services, Vendor};

pub use avepoint::{product_name as avepoint_product_name, product_slug as avepoint_product_slug};
pub use datto::license_changes;
pub use watchguard::contact_marker as watchguard_contact_marker;

pub fn all() -> Vec<Box<dyn VendorModel>> {
    Vendor::ALL.into_iter().map(for_vendor).collect()
}

pub fn for_vendor(vendor: Vendor) -> Box<dyn VendorModel> {
    match vendor {
        Vendor::Veeam => Box::new(veeam::Veeam),
        Vendor::Datto => Box::new(datto::Datto),
        Vendor::Velocloud => Box::new(velocloud::VeloCloud),
        Vendor::Acronis => Box::new(acronis::Acronis),
        Vendor::Watchguard => Box::new(watchguard::WatchGuard),
        Vendor::Avepoint => Box::new(avepoint::AvePoint),
    }
}

/// Where in the portal a task kind is done, as a person would navigate.
pub fn portal_page(task: &str) -> String {
    match task {
        "veeam/vdc-registration" => "VCSP Pulse (ProPartner portal) › Manage My Business › VCSP Pulse › Customers › customer › VCSP Tenant Account › Register your Customer for VDC".into(),
        "veeam/vdc-admin" => "VCSP Pulse (ProPartner portal) › Manage My Business › VCSP Pulse › Customers › customer › VCSP Tenant Account › VDC Primary Administrator (Delegated management by partner)".into(),
        "datto/add-saas-client" => "Datto Partner Portal › Status › SaaS Protection Status › Add SaaS Protection Client".into(),
        "datto/check-authorization" => "Datto Partner Portal › Status › SaaS Protection Status › client › Check Authorization (send the authorization e-mail again)".into(),
        "datto/change-term" => "Datto Partner Portal › SaaS Protection › client › Subscription › Commitment term".into(),
        "datto/change-retention" => "Datto Partner Portal › SaaS Protection › client › Subscription › Retention".into(),
        "datto/licensing" => "Datto Partner Portal › SaaS Protection › client › Licensing (auto-add, license cap)".into(),
        "datto/license-seats" => "Datto Partner Portal › SaaS Protection › client › Seats (legacy Google seat management): select the seats, License".into(),
        "datto/edit-client" => "Datto Partner Portal › SaaS Protection › client › Settings".into(),
        "avepoint/change-management-mode" => "AvePoint Elements › Customers › customer › Change management mode".into(),
        "avepoint/report-recipients" => "AvePoint Elements › Customers › customer › Reports › Recipients".into(),
        "avepoint/billing-reports" => "AvePoint Elements › Customers › customer › Billing reports".into(),
        "avepoint/job-notification" => "AvePoint Elements › Customers › customer › Job notification profile".into(),
        "avepoint/service-display" => "AvePoint Elements › Customers › customer › Services › Hide expired services".into(),
        "avepoint/edit-tags" => "AvePoint Elements › Customers › customer › Edit tags".into(),
        "avepoint/disconnect-customer" => "AvePoint Elements › Customers › customer › Disconnect customer from Elements (type Yes to confirm)".into(),
        other => format!("vendor portal ({other})"),
    }
}

/// A manifest object that can own vendor objects.
pub(crate) struct Owner<'a> {
    pub r: ManifestRef,
    pub company: &'a Company,
    pub services: &'a Services,
    pub reseller: Option<&'a str>,
}

impl Owner<'_> {
    /// `tenantry:acme`.
    pub fn marker(&self) -> String {
        self.r.owner_marker()
    }
    pub fn key(&self, vendor: Vendor, kind: &str) -> ObjectKey {
        ObjectKey::new(self.r.clone(), vendor, kind)
    }
}

/// Resellers first, then customers, each sorted by name.
pub(crate) fn owners(desired: &DesiredState) -> Vec<Owner<'_>> {
    let resellers = desired.resellers.values().map(|r| Owner {
        r: ManifestRef::reseller(&r.name),
        company: &r.company,
        services: &r.services,
        reseller: None,
    });
    let customers = desired.customers.values().map(|c| Owner {
        r: ManifestRef::customer(&c.name),
        company: &c.company,
        services: &c.services,
        reseller: c.reseller.as_deref(),
    });
    resellers.chain(customers).collect()
}

/// A desired object with the common defaults; vendor modules fill in the rest.
pub(crate) fn object(key: ObjectKey, title: String, natural_key: NaturalKey, realize: Realize) -> DesiredObject {
    DesiredObject {
        key,
        title,
        natural_key,
        fields: BTreeMap::new(),
        parent: None,
        home_parent: None,
        depends_on: Vec::new(),
        realize,
        marker: None,
        identifying: Vec::new(),
        adoption: None,
        await_policy: None,
        params: BTreeMap::new(),
    }
}

pub(crate) fn depends(key: ObjectKey, need: Need, why: impl Into<String>) -> Dependency {
    Dependency { key, need, why: why.into() }
}

pub(crate) fn adoption(a: &Adoption) -> Option<Adoption> {
    Some(a.clone())
}

/// Insert fields by name.
pub(crate) fn set(d: &mut DesiredObject, fields: impl IntoIterator<Item = (&'static str, Field)>) {
    for (name, f) in fields {
        d.fields.insert(name.to_string(), f);
    }
}

pub(crate) fn opt(v: &Option<String>) -> Json {
    v.as_ref().map_or(Json::Null, |s| json!(s))
}
