//! Veeam: the company in the Service Provider Console, its VCSP Pulse tenant, and VDC
//! registration (a portal task whose preconditions are checked at plan time).

use std::time::Duration;

use serde_json::json;

use super::{adoption, depends, object, opt, owners, set};
use crate::model::{DesiredState, VdcPrimaryAdmin, Vendor};
use crate::provider::{
    AwaitPolicy, DesiredObject, Field, NaturalKey, Need, ObservedObject, Overdue, PortalForm, Realize, Retire,
    VendorModel, Verify,
};

pub struct Veeam;

/// How long Pulse normally takes to verify and map a new customer.
pub const PULSE_MAPPING: Duration = Duration::from_secs(10 * 60);

impl VendorModel for Veeam {
    fn portal_page(&self, task: &str) -> String {
        super::portal_page(task)
    }

    fn vendor(&self) -> Vendor {
        Vendor::Veeam
    }

    fn desire(&self, desired: &DesiredState) -> Vec<DesiredObject> {
        let mut out = Vec::new();
        for owner in owners(desired) {
            let Some(v) = &owner.services.veeam else { continue };
            let c = owner.company;
            let company_key = owner.key(Vendor::Veeam, "company");
            let mut company = object(
                company_key.clone(),
                format!("company \"{}\"", c.name),
                NaturalKey::new([("name", c.name.clone())]),
                Realize::Create,
            );
            company.marker = Some(owner.marker());
            company.adoption = adoption(&v.adoption);
            set(
                &mut company,
                [
                    ("name", Field::api(json!(c.name))),
                    // The owner marker, in organizationInput.companyId ("id for third-party systems").
                    ("companyId", Field::api(json!(owner.marker()))),
                    ("website", Field::api(json!(c.domain))),
                    ("street", Field::api(json!(c.address.street))),
                    ("city", Field::api(json!(c.address.city))),
                    ("zipCode", Field::api(json!(c.address.postcode))),
                    ("countryCode", Field::api(json!(c.address.country))),
                    ("phone", Field::api(opt(&c.phone))),
                    // Managed by the MSP itself, not a VSPC reseller (tenantry's resellers have
                    // no Veeam service): a company assigned to one in the console is drift.
                    ("resellerUid", Field::api(serde_json::Value::Null)),
                    ("ownerUsername", Field::create_only(json!(v.owner_username))),
                    ("ownerPassword", Field::secret(&v.owner_password)),
                ],
            );
            out.push(company);

            if !v.pulse {
                continue;
            }
            let pulse_key = owner.key(Vendor::Veeam, "pulse-tenant");
            let mut pulse = object(
                pulse_key.clone(),
                format!("VCSP Pulse tenant \"{}\"", c.name),
                NaturalKey::new([("name", c.name.clone())]).under(company_key.clone()),
                Realize::Register,
            );
            pulse.parent = Some(company_key.clone());
            pulse.depends_on.push(depends(
                company_key.clone(),
                Need::Exists,
                "the company must exist in the Service Provider Console first",
            ));
            pulse.await_policy = Some(AwaitPolicy {
                expected: PULSE_MAPPING,
                overdue: Overdue::Hint {
                    hint: "Veeam verifies new customers within about 10 minutes; if the mapping does not complete, ask Veeam support to move the customer under your VCSP in VCSP Pulse".into(),
                },
            });
            out.push(pulse);

            let Some(vdc) = &v.vdc else { continue };
            // VDC registration is a portal step. The VSPC API does not show "VDC Registered";
            // VDC usage in `GET /pulse/monthlyUsages` (VSPC 3.7) does, once the customer has
            // protected something (providers.md 1.5): the registration is then observed under
            // its Pulse tenant. Until then it rests on the task's attestation.
            let mut reg = object(
                owner.key(Vendor::Veeam, "vdc-registration"),
                format!("VDC registration of \"{}\"", c.name),
                NaturalKey::new([("name", c.name.clone())]).under(pulse_key.clone()),
                Realize::Portal(PortalForm {
                    task: "veeam/vdc-registration".into(),
                    page: super::portal_page("veeam/vdc-registration"),
                    verify: Verify::Attestation,
                }),
            );
            reg.parent = Some(pulse_key.clone());
            reg.depends_on.push(depends(
                pulse_key,
                Need::Ready,
                "VDC registration needs an Active End Customer in VCSP Pulse that is not yet VDC registered",
            ));
            let admin = vdc.admin.as_ref();
            // The customer details are entered once, at registration (pre-filled from VCSP Pulse
            // for a verified customer, providers.md 1.8): never compared. The primary administrator
            // can change later (providers.md 1.8: provider- vs customer-managed onboarding
            // toggles "Delegated management by partner" and is reversible): a portal task.
            let admin_field = |v: serde_json::Value| Field::portal(v, "veeam/vdc-admin");
            set(
                &mut reg,
                [
                    ("customerName", Field::create_only(json!(c.name)).entered_only()),
                    ("customerDomain", Field::create_only(json!(c.domain)).entered_only()),
                    ("street", Field::create_only(json!(c.address.street)).entered_only()),
                    ("city", Field::create_only(json!(c.address.city)).entered_only()),
                    ("postcode", Field::create_only(json!(c.address.postcode)).entered_only()),
                    ("country", Field::create_only(json!(c.address.country)).entered_only()),
                    (
                        "vdcPrimaryAdministrator",
                        admin_field(json!(match vdc.primary_admin {
                            VdcPrimaryAdmin::CustomerManaged => "Customer Managed",
                            VdcPrimaryAdmin::PartnerManaged => "Partner Managed",
                        })),
                    ),
                    ("adminFirstName", admin_field(json!(admin.map(|a| &a.first_name)))),
                    ("adminLastName", admin_field(json!(admin.map(|a| &a.last_name)))),
                    ("adminEmail", admin_field(json!(admin.map(|a| &a.email)))),
                ],
            );
            reg.fields.retain(|_, f| f.value.json().is_none_or(|v| !v.is_null()));
            for f in reg.fields.values_mut() {
                f.observable = false;
            }
            out.push(reg);
        }
        out
    }

    fn attested_note(&self, desired: &DesiredObject) -> Option<String> {
        (desired.key.kind == "vdc-registration").then(|| {
            "the VSPC API does not show VDC registration; it is confirmed once VDC usage for this tenant appears in VCSP Pulse (GET /pulse/monthlyUsages)".to_string()
        })
    }

    fn retire(&self, observed: &ObservedObject) -> Retire {
        match observed.kind.as_str() {
            "company" => Retire::Api { irreversible: false },
            _ => Retire::Never("it goes with its company".into()),
        }
    }
}
