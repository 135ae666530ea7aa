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
            let mut reg = object(
                owner.key(Vendor::Veeam, "vdc-registration"),
                format!("VDC registration of \"{}\"", c.name),
                NaturalKey::default(),
                Realize::Portal(PortalForm {
                    task: "veeam/vdc-registration".into(),
                    page: super::portal_page("veeam/vdc-registration"),
                    verify: Verify::Attestation,
                }),
            );
            reg.depends_on.push(depends(
                pulse_key,
                Need::Ready,
                "VDC registration needs an Active End Customer in VCSP Pulse that is not yet VDC registered",
            ));
            let admin = vdc.admin.as_ref();
            set(
                &mut reg,
                [
                    ("customerName", Field::create_only(json!(c.name))),
                    ("customerDomain", Field::create_only(json!(c.domain))),
                    ("street", Field::create_only(json!(c.address.street))),
                    ("city", Field::create_only(json!(c.address.city))),
                    ("postcode", Field::create_only(json!(c.address.postcode))),
                    ("country", Field::create_only(json!(c.address.country))),
                    (
                        "vdcPrimaryAdministrator",
                        Field::create_only(json!(match vdc.primary_admin {
                            VdcPrimaryAdmin::CustomerManaged => "Customer Managed",
                            VdcPrimaryAdmin::PartnerManaged => "Partner Managed",
                        })),
                    ),
                    ("adminFirstName", Field::create_only(json!(admin.map(|a| &a.first_name)))),
                    ("adminLastName", Field::create_only(json!(admin.map(|a| &a.last_name)))),
                    ("adminEmail", Field::create_only(json!(admin.map(|a| &a.email)))),
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

    fn retire(&self, observed: &ObservedObject) -> Retire {
        match observed.kind.as_str() {
            "company" => Retire::Api { irreversible: false },
            _ => Retire::Never("it goes with its company".into()),
        }
    }
}
