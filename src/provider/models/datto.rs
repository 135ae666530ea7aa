//! Datto SaaS Protection: the client is added in the portal (a task verified when its domain
//! appears in the API), client authorization is awaited, and seat licensing is synced through
//! `bulkSeatChange` within the declared cap.

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};

use super::{adoption, depends, object, owners, set};
use crate::model::{
    DattoManagedBy, DattoProduct, DattoRegion, DattoRetention, DattoSeatType, DattoTerm, DesiredState, Vendor,
};
use crate::provider::{
    AwaitPolicy, Change, DesiredObject, Field, NaturalKey, Need, ObservedObject, Overdue, PortalForm, Realize,
    TransitionRule, VendorModel, Verify,
};

pub struct Datto;

pub fn product_type(p: DattoProduct) -> &'static str {
    match p {
        DattoProduct::Office365 => "Office365",
        DattoProduct::GoogleWorkspace => "GoogleApps",
    }
}

pub fn retention_type(r: DattoRetention) -> &'static str {
    match r {
        DattoRetention::Infinite => "ICR",
        DattoRetention::TimeBased => "TBR",
    }
}

fn term(t: DattoTerm) -> &'static str {
    match t {
        DattoTerm::MonthToMonth => "monthToMonth",
        DattoTerm::OneYear => "oneYear",
        DattoTerm::ThreeYear => "threeYear",
    }
}

fn region(r: DattoRegion) -> &'static str {
    match r {
        DattoRegion::Us => "us",
        DattoRegion::Ca => "ca",
        DattoRegion::Uk => "uk",
        DattoRegion::Eu => "eu",
        DattoRegion::Au => "au",
    }
}

pub fn seat_type(t: DattoSeatType) -> &'static str {
    match t {
        DattoSeatType::User => "User",
        DattoSeatType::SharedMailbox => "SharedMailbox",
        DattoSeatType::Site => "Site",
        DattoSeatType::TeamSite => "TeamSite",
        DattoSeatType::Team => "Team",
        DattoSeatType::SharedDrive => "SharedDrive",
    }
}

fn add_client_form() -> PortalForm {
    PortalForm {
        task: "datto/add-saas-client".into(),
        page: super::portal_page("datto/add-saas-client"),
        verify: Verify::Observation,
    }
}

impl VendorModel for Datto {
    fn portal_page(&self, task: &str) -> String {
        super::portal_page(task)
    }

    fn vendor(&self) -> Vendor {
        Vendor::Datto
    }

    fn desire(&self, desired: &DesiredState) -> Vec<DesiredObject> {
        let policies = &desired.config.policies;
        let mut out = Vec::new();
        for owner in owners(desired) {
            let Some(d) = &owner.services.datto else { continue };
            let c = owner.company;
            let product = product_type(d.product);
            let client_key = owner.key(Vendor::Datto, "client");
            let mut client = object(
                client_key.clone(),
                format!("SaaS Protection client \"{}\" ({product})", c.name),
                NaturalKey::new([("domain", c.domain.clone()), ("product", product.to_string())]),
                Realize::Portal(add_client_form()),
            );
            client.adoption = adoption(&d.adoption);
            // Datto has no owner-marker field; the client name the task entered identifies it.
            client.identifying = vec!["clientName".into()];
            // Shortening a commitment is refused by Datto; lengthening is allowed.
            let refused = |from: &str, to: &str| {
                (
                    json!(from),
                    json!(to),
                    TransitionRule::Refused(format!("Datto does not allow a {from} commitment to become {to}")),
                )
            };
            let mut term_field = Field::portal(json!(term(d.term)), "datto/change-term").unobservable();
            for (from, to, rule) in [
                refused("oneYear", "monthToMonth"),
                refused("threeYear", "monthToMonth"),
                refused("threeYear", "oneYear"),
            ] {
                term_field = term_field.with_transition(from, to, rule);
            }
            let user = d.client_user.as_ref();
            set(
                &mut client,
                [
                    ("clientName", Field::portal(json!(c.name), "datto/edit-client")),
                    ("domain", Field::create_only(json!(c.domain))),
                    ("productType", Field::create_only(json!(product))),
                    ("region", Field::create_only(json!(region(d.region))).unobservable()),
                    ("term", term_field),
                    ("retentionType", Field::portal(json!(retention_type(d.retention)), "datto/change-retention")),
                    (
                        "managedBy",
                        Field::create_only(json!(match d.managed_by {
                            DattoManagedBy::Client => "client",
                            DattoManagedBy::Partner => "partner",
                        }))
                        .unobservable(),
                    ),
                    ("autoAdd", Field::portal(json!(d.auto_add), "datto/licensing").unobservable()),
                    ("licenseCap", Field::portal(json!(d.cap), "datto/licensing").unobservable()),
                    ("acknowledgeTerms", Field::create_only(json!(true)).unobservable()),
                ],
            );
            if let Some(u) = user {
                set(
                    &mut client,
                    [
                        ("clientUserFirstName", Field::create_only(json!(u.person.first_name)).unobservable()),
                        ("clientUserLastName", Field::create_only(json!(u.person.last_name)).unobservable()),
                        ("clientUserEmail", Field::create_only(json!(u.person.email)).unobservable()),
                        ("clientUserCountryCode", Field::create_only(json!(u.country_code)).unobservable()),
                        ("clientUserMobile", Field::create_only(json!(u.mobile)).unobservable()),
                    ],
                );
            }
            client.params.insert("cap".into(), json!(d.cap));
            let who = user.map(|u| u.person.email.clone()).unwrap_or_else(|| "the customer's administrator".into());
            client.await_policy = Some(AwaitPolicy {
                expected: policies.datto_authorization_expiry,
                overdue: Overdue::PortalTask {
                    form: PortalForm {
                        task: "datto/check-authorization".into(),
                        page: super::portal_page("datto/check-authorization"),
                        verify: Verify::Observation,
                    },
                    why: format!("the authorization e-mail to {who} has probably expired: send it again"),
                },
            });
            out.push(client);

            // Seat licensing: through bulkSeatChange for Office 365; Google tenants cannot use it
            // (providers.md 2.2, legacy Google seat management), so for them it is a portal task
            // whose result `GET .../seats` shows (see `assessed_in_portal`).
            let mut seats = object(
                owner.key(Vendor::Datto, "seats"),
                format!("seat licensing of \"{}\"", c.name),
                NaturalKey::new([("domain", c.domain.clone())]).under(client_key.clone()),
                Realize::Follows,
            );
            seats.parent = Some(client_key.clone());
            seats.depends_on.push(depends(
                client_key,
                Need::Ready,
                "seat licensing needs the client added and authorized",
            ));
            seats
                .params
                .insert("seatTypes".into(), json!(d.seat_types.iter().map(|t| seat_type(*t)).collect::<Vec<_>>()));
            seats.params.insert("cap".into(), json!(d.cap));
            seats.params.insert("product".into(), json!(product));
            out.push(seats);
        }
        out
    }

    fn assess(&self, desired: &DesiredObject, observed: &ObservedObject, changes: &mut Vec<Change>) -> Option<String> {
        match desired.key.kind.as_str() {
            "client" => {
                // Datto refuses a cap below the seats already protected.
                let cap = desired.params.get("cap").and_then(Json::as_u64)?;
                let used = observed.fields.get("seatsUsed").and_then(Json::as_u64)?;
                (cap < used).then(|| {
                    format!("the license cap of {cap} is below the {used} seats already protected; Datto refuses a cap under the protected seats")
                })
            }
            "seats" => {
                let plan = license_changes(desired, observed);
                if plan.to_license.is_empty() {
                    return None;
                }
                let more: usize = plan.to_license.values().map(Vec::len).sum();
                if let Some(cap) = plan.cap
                    && plan.active + more > cap
                {
                    return Some(format!(
                        "licensing {more} more seat{} would exceed the license cap: {} active + {more} = {} > {cap}; raise licensing.cap.seats or narrow licensing.seatTypes",
                        if more == 1 { "" } else { "s" },
                        plan.active,
                        plan.active + more
                    ));
                }
                changes.push(Change {
                    field: "license".into(),
                    before: None,
                    after: Some(json!(plan.to_license)),
                    sensitive: false,
                    unreadable: false,
                });
                None
            }
            _ => None,
        }
    }

    /// Google Workspace seats cannot be licensed through `bulkSeatChange` (providers.md 2.2:
    /// refused for Google subscriptions, legacy Google seat management), but `GET .../seats`
    /// lists them with their `seatState`: a portal task that closes itself once the seats of
    /// the declared types are `Active`.
    fn assessed_in_portal(
        &self,
        desired: &DesiredObject,
        observed: &ObservedObject,
        changes: &[Change],
    ) -> Option<(PortalForm, String, BTreeMap<String, Json>)> {
        if desired.key.kind != "seats" || desired.params.get("product").and_then(Json::as_str) != Some("GoogleApps") {
            return None;
        }
        let plan = license_changes(desired, observed);
        if plan.to_license.is_empty() || !changes.iter().any(|c| c.field == "license") {
            return None;
        }
        let names: BTreeMap<&str, &str> = seat_list(observed)
            .iter()
            .filter_map(|s| Some((s.get("id")?.as_str()?, s.get("name").and_then(Json::as_str).unwrap_or_default())))
            .collect();
        let to_license: BTreeMap<&String, Vec<&str>> = plan
            .to_license
            .iter()
            .map(|(t, ids)| {
                let mut list: Vec<&str> = ids
                    .iter()
                    .map(|id| names.get(id.as_str()).copied().filter(|n| !n.is_empty()).unwrap_or(id))
                    .collect();
                list.sort();
                (t, list)
            })
            .collect();
        let count: usize = plan.to_license.values().map(Vec::len).sum();
        let types: Vec<&str> = desired
            .params
            .get("seatTypes")
            .and_then(Json::as_array)
            .map(|a| a.iter().filter_map(Json::as_str).collect())
            .unwrap_or_default();
        let domain = desired.natural_key.values.get("domain").cloned().unwrap_or_default();
        let form = PortalForm {
            task: "datto/license-seats".into(),
            page: super::portal_page("datto/license-seats"),
            verify: Verify::Observation,
        };
        let why = format!(
            "{count} {} seat{} of {domain} {} not protected (Google Workspace seats cannot be licensed through bulkSeatChange)",
            types.join("/"),
            if count == 1 { "" } else { "s" },
            if count == 1 { "is" } else { "are" },
        );
        let values = BTreeMap::from([
            ("domain".to_string(), json!(domain)),
            ("seatTypes".to_string(), json!(types)),
            ("seatsToLicense".to_string(), json!(count)),
            ("seats".to_string(), json!(to_license)),
            ("activeSeats".to_string(), json!(plan.active)),
            ("licenseCap".to_string(), plan.cap.map_or(json!("none"), |c| json!(c))),
        ]);
        Some((form, why, values))
    }
}

fn seat_list(observed: &ObservedObject) -> &[Json] {
    observed.fields.get("seats").and_then(Json::as_array).map(Vec::as_slice).unwrap_or_default()
}

/// What seat licensing would do: seats of the declared types that are not licensed, by seat
/// type, and the seats already licensed (what the cap counts).
pub struct LicensePlan {
    pub to_license: BTreeMap<String, Vec<String>>,
    pub active: usize,
    pub cap: Option<usize>,
}

pub fn license_changes(desired: &DesiredObject, observed: &ObservedObject) -> LicensePlan {
    let types: Vec<&str> = desired
        .params
        .get("seatTypes")
        .and_then(Json::as_array)
        .map(|a| a.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default();
    let cap = desired.params.get("cap").and_then(Json::as_u64).map(|c| c as usize);
    let seats = seat_list(observed);
    let mut to_license: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut active = 0;
    for s in seats {
        let state = s.get("state").and_then(Json::as_str).unwrap_or_default();
        let kind = s.get("type").and_then(Json::as_str).unwrap_or_default();
        let id = s.get("id").and_then(Json::as_str).unwrap_or_default();
        if state == "Active" {
            active += 1;
        } else if types.contains(&kind) && state != "Archived" && !id.is_empty() {
            to_license.entry(kind.to_string()).or_default().push(id.to_string());
        }
    }
    for ids in to_license.values_mut() {
        ids.sort();
    }
    LicensePlan { to_license, active, cap }
}
