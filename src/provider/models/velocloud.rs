//! VMware VeloCloud Orchestrator: one partner customer (enterprise) per customer, created with
//! every manifest field, synced afterwards; an image still run by an edge is never removed.

use serde_json::{Value as Json, json};

use super::{adoption, depends, object, opt, owners, set};
use crate::model::{DesiredState, ManifestRef, VeloCloudConfiguration, Vendor};
use crate::provider::{
    Change, DesiredObject, Field, NaturalKey, Need, ObjectKey, ObservedObject, Realize, Retire, VendorModel,
};

pub struct VeloCloud;

impl VendorModel for VeloCloud {
    fn portal_page(&self, task: &str) -> String {
        super::portal_page(task)
    }

    fn vendor(&self) -> Vendor {
        Vendor::Velocloud
    }

    fn desire(&self, desired: &DesiredState) -> Vec<DesiredObject> {
        let mut out = Vec::new();
        for owner in owners(desired) {
            let Some(v) = &owner.services.velocloud else { continue };
            let c = owner.company;
            let mut e = object(
                owner.key(Vendor::Velocloud, "enterprise"),
                format!("customer \"{}\"", c.name),
                NaturalKey::new([("name", c.name.clone())]),
                Realize::Create,
            );
            // The account number is both natural key and owner marker on the VCO.
            e.marker = Some(c.account_number.clone());
            e.adoption = adoption(&v.adoption);
            let configuration = match &v.configuration {
                VeloCloudConfiguration::Profile(p) => json!({"profile": p}),
                VeloCloudConfiguration::ConfigurationId(id) => json!({"configurationId": id}),
                VeloCloudConfiguration::CloneFrom(other) => {
                    let name =
                        desired.customers.get(other).map(|o| o.company.name.clone()).unwrap_or_else(|| other.clone());
                    // Cloning reads the source customer's configuration: it must exist first.
                    if desired.customers.get(other).is_some_and(|o| o.services.velocloud.is_some()) {
                        e.depends_on.push(depends(
                            ObjectKey::new(ManifestRef::customer(other), Vendor::Velocloud, "enterprise"),
                            Need::Exists,
                            format!("the customer to clone ({other}) must exist on the VCO first"),
                        ));
                    }
                    json!({"cloneFrom": name})
                }
            };
            let a = &v.admin;
            // Compared as sets: the vendor reports them in its own order.
            let mut images = v.images.clone();
            images.sort();
            let mut licenses = v.edge_licenses.clone();
            licenses.sort();
            set(
                &mut e,
                [
                    ("name", Field::api(json!(c.name))),
                    ("domain", Field::api(json!(c.domain))),
                    ("accountNumber", Field::api(json!(c.account_number))),
                    ("streetAddress", Field::api(json!(c.address.street))),
                    ("city", Field::api(json!(c.address.city))),
                    ("state", Field::api(opt(&c.address.state))),
                    ("postalCode", Field::api(json!(c.address.postcode))),
                    ("country", Field::api(json!(c.address.country))),
                    ("contactName", Field::api(json!(format!("{} {}", a.first_name, a.last_name)))),
                    ("contactEmail", Field::api(json!(a.email))),
                    ("contactPhone", Field::api(opt(&a.phone))),
                    ("contactMobile", Field::api(opt(&a.mobile))),
                    // VCO API v1 (5.0.0) has setters for these but nothing that reads them back.
                    ("partnerSupportAccess", Field::api(json!(v.partner_support)).unobservable()),
                    ("vmwareSupportAccess", Field::api(json!(v.vmware_support)).unobservable()),
                    ("vmwareUserManagementAccess", Field::api(json!(v.user_management)).unobservable()),
                    // Read back per customer: the operator profile it was created with, or for a
                    // clone whether it holds a copy of one of the source's configuration profiles.
                    ("configuration", Field::create_only(configuration)),
                    ("gatewayPool", Field::api(json!(v.gateway_pool))),
                    ("manageSoftwareImages", Field::api(json!(v.manage_images)).unobservable()),
                    ("softwareImages", Field::api(json!(images))),
                    ("defaultImage", Field::api(json!(v.default_image))),
                    ("edgeLicenses", Field::api(json!(licenses)).unobservable()),
                    ("analytics", Field::api(json!(v.analytics))),
                    // The initial administrator, sent with the customer at creation and read back
                    // among its users (`enterprise/getEnterpriseUsers`); its own details are
                    // updated with `enterpriseUser/updateEnterpriseUser`, whose `_update` has no
                    // username (VCO v1 swagger 5.0.0).
                    ("adminUsername", Field::create_only(json!(v.admin_username))),
                    ("adminFirstName", Field::api(json!(a.first_name))),
                    ("adminLastName", Field::api(json!(a.last_name))),
                    ("adminPhone", Field::api(opt(&a.phone))),
                    ("adminMobile", Field::api(opt(&a.mobile))),
                    ("adminPassword", Field::secret(&v.admin_password)),
                ],
            );
            out.push(e);
        }
        out
    }

    /// An image may leave a customer only when it is not the default and no edge runs it.
    fn assess(&self, desired: &DesiredObject, observed: &ObservedObject, _changes: &mut Vec<Change>) -> Option<String> {
        let wanted: Vec<&str> = desired
            .fields
            .get("softwareImages")
            .and_then(|f| f.value.json())
            .and_then(Json::as_array)
            .map(|a| a.iter().filter_map(Json::as_str).collect())
            .unwrap_or_default();
        let in_use = observed.fields.get("imagesInUse").and_then(Json::as_object)?;
        let mut blocked = Vec::new();
        for (image, edges) in in_use {
            if wanted.contains(&image.as_str()) {
                continue;
            }
            let edges: Vec<&str> =
                edges.as_array().map(|a| a.iter().filter_map(Json::as_str).collect()).unwrap_or_default();
            if !edges.is_empty() {
                blocked.push(format!(
                    "image {image} is still run by edge{} {}",
                    if edges.len() == 1 { "" } else { "s" },
                    edges.join(", ")
                ));
            }
        }
        (!blocked.is_empty()).then(|| {
            format!(
                "cannot remove a software image an edge still uses: {}; upgrade those edges first",
                blocked.join("; ")
            )
        })
    }

    fn retire(&self, observed: &ObservedObject) -> Retire {
        match observed.kind.as_str() {
            "enterprise" => Retire::Api { irreversible: false },
            _ => Retire::Never("not removable".into()),
        }
    }
}
