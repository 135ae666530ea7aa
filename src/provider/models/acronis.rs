//! Acronis, in the role Cloud BSS plays: a reseller becomes a `partner` tenant under the MSP, a
//! customer a `customer` tenant under its reseller (or the MSP), each with an administrator who
//! activates through the e-mail Acronis sends.

use serde_json::{Value as Json, json};

use super::{adoption, depends, object, owners, set};
use crate::model::{DesiredState, OwnerKind, Vendor};
use crate::provider::{Change, DesiredObject, Field, NaturalKey, Need, ObservedObject, Realize, Retire, VendorModel};

pub struct Acronis;

impl VendorModel for Acronis {
    fn portal_page(&self, task: &str) -> String {
        super::portal_page(task)
    }

    fn vendor(&self) -> Vendor {
        Vendor::Acronis
    }

    fn desire(&self, desired: &DesiredState) -> Vec<DesiredObject> {
        let home = desired.config.connections.get(&Vendor::Acronis).and_then(|c| c.home.clone());
        let mut out = Vec::new();
        for owner in owners(desired) {
            let Some(a) = &owner.services.acronis else { continue };
            let c = owner.company;
            let is_reseller = owner.r.kind == OwnerKind::Reseller;
            let tenant_key = owner.key(Vendor::Acronis, "tenant");
            let mut nk = NaturalKey::new([("name", c.name.clone())]);
            let mut tenant = object(
                tenant_key.clone(),
                format!("{} tenant \"{}\"", if is_reseller { "partner" } else { "customer" }, c.name),
                NaturalKey::default(),
                Realize::Create,
            );
            match owner.reseller {
                Some(r) => {
                    let parent = crate::provider::ObjectKey::new(
                        crate::model::ManifestRef::reseller(r),
                        Vendor::Acronis,
                        "tenant",
                    );
                    nk = nk.under(parent.clone());
                    tenant.parent = Some(parent.clone());
                    tenant.depends_on.push(depends(
                        parent,
                        Need::Exists,
                        format!("reseller {r} must exist in Acronis first"),
                    ));
                }
                None => tenant.home_parent = home.clone(),
            }
            tenant.natural_key = nk;
            tenant.marker = Some(owner.marker());
            tenant.adoption = adoption(&a.adoption);
            set(
                &mut tenant,
                [
                    ("name", Field::api(json!(c.name))),
                    ("kind", Field::create_only(json!(if is_reseller { "partner" } else { "customer" }))),
                    ("internalTag", Field::api(json!(owner.marker()))),
                    ("customerId", Field::api(json!(c.account_number))),
                    ("contactEmail", Field::api(json!(a.email))),
                    ("contactFirstName", Field::api(json!(a.admin.first_name))),
                    ("contactLastName", Field::api(json!(a.admin.last_name))),
                    ("contactPhone", Field::api(json!(a.phone))),
                    ("address1", Field::api(json!(c.address.street))),
                    ("city", Field::api(json!(c.address.city))),
                    ("zipcode", Field::api(json!(c.address.postcode))),
                    ("country", Field::api(json!(c.address.country))),
                ],
            );
            out.push(tenant);

            let mut user = object(
                owner.key(Vendor::Acronis, "user"),
                format!("administrator \"{}\"", a.username),
                NaturalKey::new([("login", a.username.clone())]).under(tenant_key.clone()),
                Realize::Create,
            );
            user.parent = Some(tenant_key.clone());
            user.depends_on.push(depends(tenant_key, Need::Exists, "the tenant must exist first"));
            set(
                &mut user,
                [
                    ("login", Field::create_only(json!(a.username))),
                    ("email", Field::api(json!(a.email))),
                    ("firstName", Field::api(json!(a.admin.first_name))),
                    ("lastName", Field::api(json!(a.admin.last_name))),
                    // Cloud BSS: company administrator for customers, read-only administrator
                    // for resellers.
                    ("role", Field::api(json!(if is_reseller { "readonly_admin" } else { "company_admin" }))),
                    // Sent once after creation; remembered in the binding (Acronis does not say).
                    ("activationEmail", Field::api(json!("sent")).unobservable()),
                ],
            );
            out.push(user);
        }
        out
    }

    fn assess(&self, desired: &DesiredObject, observed: &ObservedObject, changes: &mut Vec<Change>) -> Option<String> {
        // An activated user needs no activation e-mail, whatever the binding remembers.
        if desired.key.kind == "user" && observed.fields.get("activated").and_then(Json::as_bool) == Some(true) {
            changes.retain(|c| c.field != "activationEmail");
        }
        None
    }

    fn retire(&self, observed: &ObservedObject) -> Retire {
        match observed.kind.as_str() {
            "tenant" => Retire::Api { irreversible: false },
            _ => Retire::Never("it goes with its tenant".into()),
        }
    }
}
