//! WatchGuard Cloud (standing in for Panda): a service-provider account per reseller, a
//! subscriber account per customer under its reseller or the MSP, and an operator created
//! through an asynchronous transaction.

use serde_json::json;

use super::{adoption, depends, object, owners, set};
use crate::model::{DesiredState, ManifestRef, OwnerKind, Vendor};
use crate::provider::{
    DesiredObject, Field, NaturalKey, Need, ObjectKey, ObservedObject, Realize, Relocate, Retire, VendorModel,
};

pub struct WatchGuard;

/// Account types: 1 = Service Provider (reseller), 2 = Subscriber (customer).
pub fn account_type(kind: OwnerKind) -> &'static str {
    match kind {
        OwnerKind::Reseller => "1",
        OwnerKind::Customer => "2",
    }
}

/// WatchGuard accounts have no field for an owner marker; the primary contact's e-mail is the
/// evidence of ownership when no binding exists (an inferred convention, see providers.md 5.5).
pub fn contact_marker(email: &str) -> String {
    format!("contact:{}", email.to_ascii_lowercase())
}

impl VendorModel for WatchGuard {
    fn portal_page(&self, task: &str) -> String {
        super::portal_page(task)
    }

    fn vendor(&self) -> Vendor {
        Vendor::Watchguard
    }

    fn desire(&self, desired: &DesiredState) -> Vec<DesiredObject> {
        let home = desired.config.connections.get(&Vendor::Watchguard).and_then(|c| c.home.clone());
        let mut out = Vec::new();
        for owner in owners(desired) {
            let Some(w) = &owner.services.watchguard else { continue };
            let c = owner.company;
            let is_reseller = owner.r.kind == OwnerKind::Reseller;
            let account_key = owner.key(Vendor::Watchguard, "account");
            let mut nk = NaturalKey::new([("name", c.name.clone()), ("type", account_type(owner.r.kind).to_string())]);
            let mut account = object(
                account_key.clone(),
                format!("{} account \"{}\"", if is_reseller { "service provider" } else { "subscriber" }, c.name),
                NaturalKey::default(),
                Realize::Create,
            );
            match owner.reseller {
                Some(r) => {
                    let parent = ObjectKey::new(ManifestRef::reseller(r), Vendor::Watchguard, "account");
                    nk = nk.under(parent.clone());
                    account.parent = Some(parent.clone());
                    account.depends_on.push(depends(
                        parent,
                        Need::Exists,
                        format!("reseller {r} must exist in WatchGuard Cloud first"),
                    ));
                }
                None => account.home_parent = home.clone(),
            }
            account.natural_key = nk;
            account.marker = Some(contact_marker(&w.email));
            account.adoption = adoption(&w.adoption);
            set(
                &mut account,
                [
                    ("name", Field::api(json!(c.name))),
                    ("type", Field::create_only(json!(account_type(owner.r.kind)))),
                    ("firstName", Field::api(json!(w.admin.first_name))),
                    ("lastName", Field::api(json!(w.admin.last_name))),
                    ("email", Field::api(json!(w.email))),
                ],
            );
            out.push(account);

            let mut operator = object(
                owner.key(Vendor::Watchguard, "operator"),
                format!("operator \"{}\"", w.username),
                NaturalKey::new([("username", w.username.clone())]).under(account_key.clone()),
                Realize::Create,
            );
            operator.parent = Some(account_key.clone());
            operator.depends_on.push(depends(account_key, Need::Exists, "the account must exist first"));
            let phone: String = w.phone.clone().unwrap_or_default().chars().filter(char::is_ascii_digit).collect();
            set(
                &mut operator,
                [
                    ("username", Field::create_only(json!(w.username))),
                    ("firstName", Field::api(json!(w.admin.first_name))),
                    ("lastName", Field::api(json!(w.admin.last_name))),
                    ("email", Field::create_only(json!(w.email))),
                    ("phone", Field::api(json!(phone))),
                    // The operator list does not report roles: compared with what tenantry set.
                    ("role", Field::api(json!(if is_reseller { "OWNER" } else { "ADMINISTRATOR" })).unobservable()),
                ],
            );
            out.push(operator);
        }
        out
    }

    fn relocate(&self, observed: &ObservedObject) -> Relocate {
        match observed.kind.as_str() {
            // providers.md 5.2: `PATCH /accounts/{id}` takes only `{name, firstName, lastName,
            // email}`, and nothing else in the Accounts API changes an account's parent.
            "account" => Relocate::Never {
                reason: "the WatchGuard Cloud API cannot move an account to another parent (PATCH /accounts/{id} takes only name, firstName, lastName and email)".into(),
                hint: "a person has to move it in WatchGuard Cloud (or ask WatchGuard support); once it sits under the declared parent the next plan shows it done. Or declare the customer under its current reseller again".into(),
            },
            _ => Relocate::Never {
                reason: "a WatchGuard operator cannot be moved to another account".into(),
                hint: "delete the operator in WatchGuard Cloud; tenantry then creates it in the declared account".into(),
            },
        }
    }

    fn retire(&self, observed: &ObservedObject) -> Retire {
        match observed.kind.as_str() {
            "account" => Retire::Api { irreversible: false },
            _ => Retire::Never("it goes with its account".into()),
        }
    }
}
