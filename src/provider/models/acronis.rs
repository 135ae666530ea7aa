//! Acronis, in the role Cloud BSS plays: a reseller becomes a `partner` tenant under the MSP, a
//! customer a `customer` tenant under its reseller (or the MSP), each with an administrator who
//! activates through the e-mail Acronis sends.

use serde_json::{Value as Json, json};

use super::{adoption, depends, object, owners, set};
use crate::model::{DesiredState, OwnerKind, Vendor};
use crate::provider::{
    Change, DesiredObject, Field, NaturalKey, Need, ObservedObject, Realize, Relocate, Retire, VendorModel,
};

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
                    // The address the activation e-mail went to: sent after creation, and again
                    // when the e-mail of a user who has not activated yet changes (the first one
                    // went to the old address). Remembered in the binding: Acronis does not say.
                    ("activationEmail", Field::api(json!(a.email)).unobservable()),
                ],
            );
            out.push(user);
        }
        out
    }

    fn assess(&self, desired: &DesiredObject, observed: &ObservedObject, changes: &mut Vec<Change>) -> Option<String> {
        // An activated user needs no activation e-mail, whatever the binding remembers (the
        // planner hands this the API changes, so dropping one here keeps it out of the plan).
        if desired.key.kind == "user" && observed.fields.get("activated").and_then(Json::as_bool) == Some(true) {
            changes.retain(|c| c.field != "activationEmail");
        }
        // A binding written before the address was recorded says only "sent": it went to the
        // address the user has now, unless that changes too.
        if desired.key.kind == "user" && !changes.iter().any(|c| c.field == "email") {
            changes.retain(|c| !(c.field == "activationEmail" && c.before == Some(json!("sent"))));
        }
        None
    }

    fn relocate(&self, observed: &ObservedObject) -> Relocate {
        match observed.kind.as_str() {
            // `PUT /tenants/{id}` takes `parent_id` (+ `version`): the published `tenantPut`
            // schema (components.schemas.tenantPut.properties.parent_id), providers.md 4.2.
            "tenant" => Relocate::Api,
            _ => Relocate::Never {
                reason: "an Acronis user cannot be moved to another tenant (`PUT /users/{id}` has no tenant_id)".into(),
                hint: "remove the user in the Acronis portal; tenantry then creates it in the declared tenant".into(),
            },
        }
    }

    fn retire(&self, observed: &ObservedObject) -> Retire {
        match observed.kind.as_str() {
            "tenant" => Retire::Api { irreversible: false },
            _ => Retire::Never("it goes with its tenant".into()),
        }
    }
}
