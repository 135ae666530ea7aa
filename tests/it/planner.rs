//! The planner over the in-memory vendor: every action kind, ordering, conflicts, blocked
//! preconditions, prune, one-way and refused transitions, profiles, determinism, renderers.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use serde_json::json;
use tenantry::engine::{self, Vendors};
use tenantry::manifest;
use tenantry::model::{DesiredState, ManifestRef, Vendor};
use tenantry::plan::{ActionKind, Plan, PlanOptions, render};
use tenantry::provider::memory::MemoryVendor;
use tenantry::provider::{ObjectKey, ObjectState, ObservedObject, Pending};
use tenantry::state::{Binding, StateSnapshot, TaskRecord, TaskStatus};

use crate::support::repo;

pub fn now() -> Timestamp {
    "2026-11-20T10:04:00Z".parse().unwrap()
}

/// The example repository, loaded.
pub fn example() -> (DesiredState, manifest::SourceMap) {
    let loaded = manifest::load_dir(&repo().join("manifests")).unwrap();
    (loaded.desired.expect("valid"), loaded.sources)
}

/// One memory vendor per vendor.
pub struct Memory {
    pub vendors: Vendors,
    pub mem: BTreeMap<Vendor, Arc<MemoryVendor>>,
}

impl Memory {
    pub fn new() -> Self {
        let mut vendors = Vendors::default();
        let mut mem = BTreeMap::new();
        for v in Vendor::ALL {
            let m = Arc::new(MemoryVendor::new(v));
            vendors.add(v, m.clone());
            mem.insert(v, m);
        }
        Memory { vendors, mem }
    }
    pub fn vendor(&self, v: Vendor) -> &MemoryVendor {
        &self.mem[&v]
    }
}

pub async fn plan_with(
    desired: &DesiredState,
    sources: &manifest::SourceMap,
    m: &Memory,
    state: &StateSnapshot,
    options: PlanOptions,
) -> Plan {
    engine::make_plan(desired, sources, &m.vendors, state, options, now()).await
}

pub fn names(desired: &DesiredState) -> render::Names {
    render::names(desired)
}

fn observed(vendor: Vendor, kind: &str, id: &str, nk: &[(&str, &str)], fields: serde_json::Value) -> ObservedObject {
    ObservedObject {
        vendor,
        kind: kind.into(),
        id: id.into(),
        natural_key: nk.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        parent_id: None,
        marker: None,
        fields: serde_json::from_value(fields).unwrap(),
        version: None,
        state: ObjectState::Ready,
    }
}

fn key(owner: &str, vendor: Vendor, kind: &str) -> ObjectKey {
    ObjectKey::new(ManifestRef::parse(owner).unwrap(), vendor, kind)
}

fn bind(state: &mut StateSnapshot, k: ObjectKey, id: &str, at: &str, applied: serde_json::Value) {
    let t: Timestamp = at.parse().unwrap();
    state.bindings.insert(
        k.clone(),
        Binding {
            key: k,
            vendor_id: id.into(),
            created_at: t,
            updated_at: t,
            applied: serde_json::from_value(applied).unwrap(),
        },
    );
}

fn action<'a>(p: &'a Plan, id: &str) -> &'a tenantry::plan::Action {
    p.actions.iter().find(|a| a.id == id).unwrap_or_else(|| {
        panic!("no action {id}; actions: {:#?}", p.actions.iter().map(|a| &a.id).collect::<Vec<_>>())
    })
}

/// Fields of the example's desired object, as the vendor would report them after a create.
fn as_created(desired: &DesiredState, k: &ObjectKey) -> serde_json::Value {
    let models = tenantry::provider::models();
    let objs = engine::desire(desired, &models);
    let d = objs.iter().find(|d| &d.key == k).unwrap();
    let map: serde_json::Map<String, serde_json::Value> = d
        .fields
        .iter()
        .filter(|(_, f)| f.observable)
        .filter_map(|(n, f)| f.value.json().map(|v| (n.clone(), v.clone())))
        .collect();
    serde_json::Value::Object(map)
}

/// What tenantry records at create for the fields the vendor cannot report back.
fn as_applied(desired: &DesiredState, k: &ObjectKey) -> serde_json::Value {
    let models = tenantry::provider::models();
    let objs = engine::desire(desired, &models);
    let d = objs.iter().find(|d| &d.key == k).unwrap();
    let map: serde_json::Map<String, serde_json::Value> = d
        .fields
        .iter()
        .filter(|(_, f)| !f.observable)
        .map(|(n, f)| {
            let v = match &f.value {
                tenantry::provider::FieldValue::Value(v) => v.clone(),
                tenantry::provider::FieldValue::Secret(r) => json!(tenantry::plan::secret_ref_text(r)),
            };
            (n.clone(), v)
        })
        .collect();
    serde_json::Value::Object(map)
}

#[tokio::test]
async fn an_empty_vendor_gets_creates_registrations_portal_tasks_and_blocked_steps_in_order() {
    let (desired, sources) = example();
    let m = Memory::new();
    let p = plan_with(&desired, &sources, &m, &StateSnapshot::default(), PlanOptions::default()).await;
    let s = p.summary();
    assert!(s.create > 20 && s.register > 0 && s.portal_tasks > 0 && s.blocked > 0, "{s:?}");
    assert_eq!(s.conflicts + s.sync + s.adopt + s.delete, 0, "{s:?}");

    // A company before its registration; a reseller before its customers.
    let pulse = action(&p, "customer/acme/veeam/pulse-tenant:register");
    assert_eq!(pulse.depends_on, vec!["customer/acme/veeam/company:create".to_string()]);
    let tenant = action(&p, "customer/acme/acronis/tenant:create");
    assert_eq!(tenant.depends_on, vec!["reseller/northwind/acronis/tenant:create".to_string()]);
    let pos = |id: &str| p.actions.iter().position(|a| a.id == id).unwrap();
    for a in &p.actions {
        for dep in &a.depends_on {
            assert!(pos(dep) < pos(&a.id), "{dep} must come before {}", a.id);
        }
    }
    let first_customer =
        p.actions.iter().position(|a| a.key.owner.kind == tenantry::model::OwnerKind::Customer).unwrap();
    assert!(p.actions[..first_customer].iter().all(|a| a.key.owner.kind == tenantry::model::OwnerKind::Reseller));

    // VDC registration waits for an Active End Customer: blocked while Pulse is only being created.
    let vdc = action(&p, "customer/acme/veeam/vdc-registration:portal-task");
    assert!(vdc.blocked.as_deref().unwrap().starts_with("VDC registration needs an Active End Customer"), "{vdc:?}");
    // Datto's client is a portal task carrying every field of the form.
    let datto = action(&p, "customer/acme/datto/client:portal-task");
    let values = &datto.task.as_ref().unwrap().values;
    for field in [
        "region",
        "productType",
        "term",
        "retentionType",
        "managedBy",
        "clientUserEmail",
        "clientUserMobile",
        "autoAdd",
        "licenseCap",
        "acknowledgeTerms",
    ] {
        assert!(values.contains_key(field), "the Add SaaS Client task lacks {field}");
    }
    // Report settings AvePoint's API cannot set become portal tasks after onboarding.
    let reports = action(&p, "customer/acme/avepoint/customer:task:billing-reports");
    assert_eq!(reports.depends_on, vec!["customer/acme/avepoint/customer:create".to_string()]);
    assert!(
        p.actions.iter().all(|a| !a.id.starts_with("customer/globex/avepoint/customer:task:")),
        "defaults need no task"
    );
}

#[tokio::test]
async fn a_stranger_with_the_same_natural_key_is_a_conflict_with_the_line_that_adopts_it() {
    let (desired, sources) = example();
    let m = Memory::new();
    m.vendor(Vendor::Veeam).insert(observed(
        Vendor::Veeam,
        "company",
        "c0ffee",
        &[("name", "ACME CORP")],
        json!({"name": "ACME CORP"}),
    ));
    let p = plan_with(&desired, &sources, &m, &StateSnapshot::default(), PlanOptions::default()).await;
    let c = action(&p, "customer/acme/veeam/company:conflict");
    assert_eq!(c.kind, ActionKind::Conflict);
    assert!(c.reason.contains("already exists at veeam (id c0ffee) but is not managed by tenantry"), "{}", c.reason);
    assert_eq!(
        c.hint.as_deref(),
        Some(
            "to adopt it, add to customers/acme.yaml:22 under spec.services.veeam:\n    externalId: \"c0ffee\"\nor rename one of them"
        )
    );
    // Its dependents wait for it.
    assert!(action(&p, "customer/acme/veeam/pulse-tenant:register").blocked.as_deref().unwrap().contains("conflicts"));
    assert_eq!(p.summary().conflicts, 1);
}

#[tokio::test]
async fn an_object_carrying_the_owner_marker_is_adopted_and_aligned() {
    let (desired, sources) = example();
    let m = Memory::new();
    let mut o = observed(
        Vendor::Veeam,
        "company",
        "c0ffee",
        &[("name", "Acme Corp")],
        json!({"name": "Acme Corp", "city": "York"}),
    );
    o.marker = Some("tenantry:acme".into());
    m.vendor(Vendor::Veeam).insert(o);
    let p = plan_with(&desired, &sources, &m, &StateSnapshot::default(), PlanOptions::default()).await;
    let a = action(&p, "customer/acme/veeam/company:adopt");
    assert!(
        a.reason.starts_with(
            "found at veeam (id c0ffee): it carries tenantry's owner marker; city differs: 'York' -> 'Leeds'"
        ),
        "{}",
        a.reason
    );
    // Its registration can go ahead right after.
    assert_eq!(action(&p, "customer/acme/veeam/pulse-tenant:register").depends_on, Vec::<String>::new());
}

#[tokio::test]
async fn the_portal_steps_of_an_adopted_object_wait_for_its_binding() {
    // A step's entered values are recorded on the binding: a step done (by a delivery command
    // that does it at once) before the adoption wrote the binding would lose them, and the
    // next plan would hand the step out again.
    let (desired, sources) = example();
    let m = Memory::new();
    let k = key("Customer/stark", Vendor::Avepoint, "customer");
    let o = observed(
        Vendor::Avepoint,
        "customer",
        "ap-7",
        &[("email", "m365-admin@stark-industries.example")],
        as_created(&desired, &k),
    );
    m.vendor(Vendor::Avepoint).insert(o);
    // An earlier run started the create and was stopped before it recorded the binding.
    let mut state = StateSnapshot::default();
    state.intents.insert(
        k.clone(),
        tenantry::state::Intent {
            key: k.clone(),
            action: format!("{}:create", k.id()),
            natural_key: tenantry::provider::NaturalKey::new([(
                "email",
                "m365-admin@stark-industries.example".to_string(),
            )]),
            started_at: "2026-11-20T10:00:00Z".parse().unwrap(),
            detail: None,
        },
    );
    let p = plan_with(&desired, &sources, &m, &state, PlanOptions::default()).await;
    let adopt = action(&p, "customer/stark/avepoint/customer:adopt");
    let steps: Vec<_> = p.actions.iter().filter(|a| a.key == k && a.kind == ActionKind::PortalTask).collect();
    assert!(steps.len() >= 2, "{:#?}", p.actions.iter().map(|a| &a.id).collect::<Vec<_>>());
    for step in steps {
        assert!(step.depends_on.contains(&adopt.id), "{} runs before the adoption: {:?}", step.id, step.depends_on);
    }
}

#[tokio::test]
async fn drift_on_a_bound_object_is_a_field_level_sync() {
    let (desired, sources) = example();
    let m = Memory::new();
    let k = key("Customer/acme", Vendor::Velocloud, "enterprise");
    let mut fields = as_created(&desired, &k);
    fields["accountNumber"] = json!("A-17");
    m.vendor(Vendor::Velocloud).insert(observed(
        Vendor::Velocloud,
        "enterprise",
        "42",
        &[("name", "Acme Corp")],
        fields,
    ));
    let mut state = StateSnapshot::default();
    let applied = as_applied(&desired, &k);
    bind(&mut state, k, "42", "2026-11-01T09:00:00Z", applied);
    let p = plan_with(&desired, &sources, &m, &state, PlanOptions::default()).await;
    let a = action(&p, "customer/acme/velocloud/enterprise:sync");
    assert_eq!(a.reason, "accountNumber differs: 'A-17' -> 'ACME-0001'");
    assert_eq!(a.changes.len(), 1);
    assert_eq!(a.vendor_id.as_deref(), Some("42"));
}

#[tokio::test]
async fn two_bindings_to_one_object_keep_the_one_it_is_named_for_and_create_the_other() {
    // A state store that does not match the vendor (restored from elsewhere, a sandbox reset):
    // acme and soylent are both bound to enterprise 42, which is Soylent's.
    let (desired, sources) = example();
    let m = Memory::new();
    let soylent = key("Customer/soylent", Vendor::Velocloud, "enterprise");
    let acme = key("Customer/acme", Vendor::Velocloud, "enterprise");
    m.vendor(Vendor::Velocloud).insert(observed(
        Vendor::Velocloud,
        "enterprise",
        "42",
        &[("name", "Soylent Foods Inc")],
        as_created(&desired, &soylent),
    ));
    let mut state = StateSnapshot::default();
    bind(&mut state, soylent.clone(), "42", "2026-11-01T09:00:00Z", as_applied(&desired, &soylent));
    bind(&mut state, acme, "42", "2026-11-01T09:00:00Z", json!({}));
    let p = plan_with(&desired, &sources, &m, &state, PlanOptions::default()).await;
    assert!(!p.actions.iter().any(|a| a.id == "customer/soylent/velocloud/enterprise:sync"), "{:#?}", p.actions);
    let a = action(&p, "customer/acme/velocloud/enterprise:create");
    assert_eq!(
        a.reason,
        "its binding names id 42, but that is Customer/soylent's enterprise (bound to it too, and named as it); creating it again"
    );
}

#[tokio::test]
async fn pending_states_are_awaited_with_since_and_overdue_ones_say_what_next() {
    let (desired, sources) = example();
    let m = Memory::new();
    let mut state = StateSnapshot::default();
    // An Acronis user waiting for activation.
    let tk = key("Customer/acme", Vendor::Acronis, "tenant");
    let mut t = observed(Vendor::Acronis, "tenant", "t-1", &[("name", "Acme Corp")], as_created(&desired, &tk));
    t.parent_id = Some("nw".into());
    m.vendor(Vendor::Acronis).insert(t);
    let uk = key("Customer/acme", Vendor::Acronis, "user");
    let mut u = observed(Vendor::Acronis, "user", "u-1", &[("login", "acme-admin")], as_created(&desired, &uk));
    u.parent_id = Some("t-1".into());
    u.state = ObjectState::Pending(Pending {
        what: "activation by it@acme.example".into(),
        since: None,
        expected: None,
        overdue: None,
        by: tenantry::provider::Party::Customer,
    });
    m.vendor(Vendor::Acronis).insert(u);
    bind(&mut state, tk, "t-1", "2026-11-19T08:00:00Z", json!({}));
    bind(&mut state, uk, "u-1", "2026-11-19T08:00:00Z", json!({"activationEmail": "it@acme.example"}));
    // A Pulse mapping running for 15 minutes (more than Veeam's usual 10).
    let ck = key("Customer/acme", Vendor::Veeam, "company");
    let mut co = observed(Vendor::Veeam, "company", "co-1", &[("name", "Acme Corp")], as_created(&desired, &ck));
    co.marker = Some("tenantry:acme".into());
    m.vendor(Vendor::Veeam).insert(co);
    let pk = key("Customer/acme", Vendor::Veeam, "pulse-tenant");
    let mut pt = observed(Vendor::Veeam, "pulse-tenant", "p-1", &[("name", "Acme Corp")], json!({}));
    pt.parent_id = Some("co-1".into());
    pt.state = ObjectState::Pending(Pending {
        what: "VCSP Pulse mapping".into(),
        since: None,
        expected: None,
        overdue: None,
        by: tenantry::provider::Party::Vendor,
    });
    m.vendor(Vendor::Veeam).insert(pt);
    bind(
        &mut state,
        ck,
        "co-1",
        "2026-11-20T09:40:00Z",
        json!({"ownerPassword": "env:ACME_VSPC_OWNER_PASSWORD", "ownerUsername": "acme-owner"}),
    );
    bind(&mut state, pk, "p-1", "2026-11-20T09:49:00Z", json!({}));

    let p = plan_with(&desired, &sources, &m, &state, PlanOptions::default()).await;
    let a = action(&p, "customer/acme/acronis/user:await");
    assert_eq!(a.reason, "waiting for activation by it@acme.example since 2026-11-19 08:00 UTC");
    let pulse = action(&p, "customer/acme/veeam/pulse-tenant:await");
    assert!(pulse.reason.ends_with("(longer than the usual 10m)"), "{}", pulse.reason);
    assert!(pulse.hint.as_deref().unwrap().contains("ask Veeam support to move the customer under your VCSP"));
    let vdc = action(&p, "customer/acme/veeam/vdc-registration:portal-task");
    assert_eq!(
        vdc.blocked.as_deref(),
        Some(
            "VDC registration needs an Active End Customer in VCSP Pulse that is not yet VDC registered: waiting for VCSP Pulse mapping since 2026-11-20 09:49 UTC"
        )
    );
}

#[tokio::test]
async fn expired_links_are_renewed_and_unanswered_authorizations_get_a_new_portal_task() {
    let (desired, sources) = example();
    let m = Memory::new();
    let mut state = StateSnapshot::default();
    let ck = key("Customer/acme", Vendor::Avepoint, "customer");
    m.vendor(Vendor::Avepoint).insert(observed(
        Vendor::Avepoint,
        "customer",
        "ap-1",
        &[("email", "backup-admin@acme.example")],
        as_created(&desired, &ck),
    ));
    bind(&mut state, ck, "ap-1", "2026-11-10T08:00:00Z", json!({}));
    let sk = key("Customer/acme", Vendor::Avepoint, "consent");
    let mut consent =
        observed(Vendor::Avepoint, "consent", "ap-1", &[("tenant", "acme.example")], json!({"tenant": "acme.example"}));
    consent.parent_id = Some("ap-1".into());
    consent.state = ObjectState::Pending(Pending {
        what: "consent through the authorization link".into(),
        since: None,
        expected: None,
        overdue: None,
        by: tenantry::provider::Party::Customer,
    });
    m.vendor(Vendor::Avepoint).insert(consent);
    // The link was renewed 4 days ago: expired (72 h).
    bind(&mut state, sk, "ap-1", "2026-11-10T08:00:00Z", json!({"pendingSince": "2026-11-16T10:00:00Z"}));

    let dk = key("Customer/acme", Vendor::Datto, "client");
    // Acme's Datto client as the vendor reports it, in a given state.
    let acme_client = |state: ObjectState| {
        let mut client = observed(
            Vendor::Datto,
            "client",
            "991",
            &[("domain", "acme.example"), ("product", "Office365")],
            as_created(&desired, &dk),
        );
        client.state = state;
        client
    };
    let client = acme_client(ObjectState::Pending(Pending {
        what: "client authorization".into(),
        since: None,
        expected: None,
        overdue: None,
        by: tenantry::provider::Party::Customer,
    }));
    m.vendor(Vendor::Datto).insert(client);
    bind(&mut state, dk.clone(), "991", "2026-11-15T08:00:00Z", json!({}));

    let p = plan_with(&desired, &sources, &m, &state, PlanOptions::default()).await;
    let renew = action(&p, "customer/acme/avepoint/consent:register");
    assert!(
        renew.reason.contains("since 2026-11-16 10:00 UTC; the authorization link has expired (3d validity)"),
        "{}",
        renew.reason
    );
    let check = action(&p, "customer/acme/datto/client:task:check-authorization");
    assert_eq!(check.kind, ActionKind::PortalTask);
    assert!(
        check.reason.contains("the authorization e-mail to ada@acme.example has probably expired"),
        "{}",
        check.reason
    );

    // Once the task is open, the plan waits for it instead of opening another.
    state.tasks.push(TaskRecord {
        id: "T-4".into(),
        key: dk.clone(),
        task: "datto/check-authorization".into(),
        vendor: Vendor::Datto,
        page: "p".into(),
        title: "t".into(),
        target: None,
        values: BTreeMap::new(),
        verify: tenantry::provider::Verify::Observation,
        created_at: "2026-11-20T09:00:00Z".parse().unwrap(),
        status: TaskStatus::Open,
        delivered: None,
        note: None,
    });
    let p = plan_with(&desired, &sources, &m, &state, PlanOptions::default()).await;
    let wait = action(&p, "customer/acme/datto/client:await");
    assert!(wait.reason.contains("portal task T-4"), "{}", wait.reason);
    // The client is still pending: the task is not verified (closing it would open another).
    assert!(p.verified_tasks.is_empty(), "{:?}", p.verified_tasks);
    assert!(
        p.actions.iter().all(|a| a.task.as_ref().is_none_or(|t| t.form.task != "datto/check-authorization")),
        "no second task while T-4 is open"
    );

    // Attested by a person: the e-mail went out again, so the plan waits for the customer.
    state.tasks[0].status = TaskStatus::Done { at: now(), note: None, by: None };
    let p = plan_with(&desired, &sources, &m, &state, PlanOptions::default()).await;
    let wait = action(&p, "customer/acme/datto/client:await");
    assert!(wait.reason.contains("portal task T-4") && wait.reason.contains("was done"), "{}", wait.reason);
    assert_eq!(wait.waits_for, Some(tenantry::provider::Party::Customer));

    // A re-trigger that is itself past the usual time: one new task (once per expiry).
    state.tasks[0].status = TaskStatus::Open;
    state.tasks[0].created_at = "2026-11-15T09:00:00Z".parse().unwrap();
    let p = plan_with(&desired, &sources, &m, &state, PlanOptions::default()).await;
    let check = action(&p, "customer/acme/datto/client:task:check-authorization");
    assert_eq!(check.kind, ActionKind::PortalTask);
    assert!(check.reason.contains("portal task T-4 of 2026-11-15 09:00 UTC did not help"), "{}", check.reason);
    assert!(p.verified_tasks.is_empty(), "replaced is not verified: {:?}", p.verified_tasks);

    // Once the client authorizes, the vendor shows it: the task is verified.
    m.vendor(Vendor::Datto).insert(acme_client(ObjectState::Ready));
    let p = plan_with(&desired, &sources, &m, &state, PlanOptions::default()).await;
    assert_eq!(p.verified_tasks, ["T-4"]);
}

#[tokio::test]
async fn open_portal_tasks_are_awaited_and_attested_ones_are_done() {
    let (desired, sources) = example();
    let m = Memory::new();
    let mut state = StateSnapshot::default();
    let vdc = key("Customer/soylent", Vendor::Veeam, "vdc-registration");
    // What the registration task hands out (and so what an attested one entered).
    let fresh = plan_with(&desired, &sources, &m, &state, PlanOptions::default()).await;
    let values = action(&fresh, "customer/soylent/veeam/vdc-registration:portal-task").task.clone().unwrap().values;
    let task = |status| TaskRecord {
        id: "T-9".into(),
        key: vdc.clone(),
        task: "veeam/vdc-registration".into(),
        vendor: Vendor::Veeam,
        page: "VCSP Pulse".into(),
        title: "VDC".into(),
        target: None,
        values: values.clone(),
        verify: tenantry::provider::Verify::Attestation,
        created_at: "2026-11-20T08:00:00Z".parse().unwrap(),
        status,
        delivered: None,
        note: None,
    };
    state.tasks.push(task(TaskStatus::Open));
    let p = plan_with(&desired, &sources, &m, &state, PlanOptions::default()).await;
    let a = action(&p, "customer/soylent/veeam/vdc-registration:await");
    assert!(a.reason.starts_with("waiting for portal task T-9 since 2026-11-20 08:00 UTC"), "{}", a.reason);
    assert_eq!(a.hint.as_deref(), Some("when it is done, run `tenantry tasks done T-9`"));

    state.tasks[0] = task(TaskStatus::Done { at: now(), note: None, by: None });
    let p = plan_with(&desired, &sources, &m, &state, PlanOptions::default()).await;
    assert!(p.actions.iter().all(|a| a.key != vdc), "an attested registration needs nothing more");
    assert_eq!(p.attested.len(), 1, "but it is attested, not verified: {:?}", p.attested);
    assert_eq!(p.attested[0].task, "T-9");
}

#[tokio::test]
async fn prune_deletes_only_owned_objects_and_only_when_on() {
    let (desired, sources) = example();
    let m = Memory::new();
    let mut gone = observed(Vendor::Acronis, "tenant", "old-1", &[("name", "Old Co")], json!({}));
    gone.marker = Some("tenantry:oldco".into());
    m.vendor(Vendor::Acronis).insert(gone);
    m.vendor(Vendor::Acronis).insert(observed(
        Vendor::Acronis,
        "tenant",
        "stranger",
        &[("name", "Someone Else")],
        json!({}),
    ));
    let mut vco = observed(Vendor::Velocloud, "enterprise", "77", &[("name", "Former Ltd")], json!({}));
    vco.marker = Some("F-1".into());
    m.vendor(Vendor::Velocloud).insert(vco);
    let mut state = StateSnapshot::default();
    bind(&mut state, key("Customer/former", Vendor::Velocloud, "enterprise"), "77", "2026-10-01T00:00:00Z", json!({}));

    let off = plan_with(&desired, &sources, &m, &state, PlanOptions::default()).await;
    assert!(off.actions.iter().all(|a| a.kind != ActionKind::Delete));
    let notes: Vec<(&str, &str)> = off.orphans.iter().map(|o| (o.vendor_id.as_str(), o.note.as_str())).collect();
    assert_eq!(notes, vec![("77", "left alone: prune is off"), ("old-1", "left alone: prune is off")]);

    let on = plan_with(&desired, &sources, &m, &state, PlanOptions { prune: true, ..Default::default() }).await;
    let deleted: Vec<&str> =
        on.actions.iter().filter(|a| a.kind == ActionKind::Delete).map(|a| a.vendor_id.as_deref().unwrap()).collect();
    assert_eq!(deleted, vec!["77", "old-1"], "the stranger is never touched");
    assert!(
        render::text(&on, &names(&desired), render::Style::new(false))
            .contains("- 2 objects will be deleted (prune is on)")
    );

    // A targeted plan never prunes.
    let targeted = plan_with(
        &desired,
        &sources,
        &m,
        &state,
        PlanOptions { prune: true, targets: vec!["Customer/acme".into()], ..Default::default() },
    )
    .await;
    assert!(targeted.orphans.is_empty() && targeted.actions.iter().all(|a| a.kind != ActionKind::Delete));
}

#[tokio::test]
async fn one_way_changes_are_flagged_and_forbidden_ones_blocked() {
    let (desired, sources) = example();
    let m = Memory::new();
    let mut state = StateSnapshot::default();
    // Umbrella wants customer management; AvePoint still has partner management.
    let k = key("Customer/umbrella", Vendor::Avepoint, "customer");
    let mut fields = as_created(&desired, &k);
    fields["managementMode"] = json!("partner");
    m.vendor(Vendor::Avepoint).insert(observed(
        Vendor::Avepoint,
        "customer",
        "ap-9",
        &[("email", "gadmin@umbrella-pharma.example")],
        fields,
    ));
    bind(&mut state, k, "ap-9", "2026-11-01T00:00:00Z", json!({}));
    // Stark asks for month-to-month, but was signed for a year.
    let dk = key("Customer/stark", Vendor::Datto, "client");
    m.vendor(Vendor::Datto).insert(observed(
        Vendor::Datto,
        "client",
        "55",
        &[("domain", "stark-industries.example"), ("product", "Office365")],
        as_created(&desired, &dk),
    ));
    bind(
        &mut state,
        dk,
        "55",
        "2026-11-01T00:00:00Z",
        json!({"term": "oneYear", "autoAdd": true, "licenseCap": 200, "region": "us"}),
    );

    let p = plan_with(&desired, &sources, &m, &state, PlanOptions::default()).await;
    let mode = action(&p, "customer/umbrella/avepoint/customer:task:change-management-mode");
    assert!(mode.irreversible && mode.blocked.is_none(), "{mode:?}");
    let term = action(&p, "customer/stark/datto/client:task:change-term");
    assert_eq!(term.blocked.as_deref(), Some("term: Datto does not allow a oneYear commitment to become monthToMonth"));
    let text = render::text(&p, &names(&desired), render::Style::new(false));
    assert!(
        text.contains("[irreversible]")
            && text.contains("! 1 irreversible change: apply refuses it without --allow-irreversible"),
        "{text}"
    );
}

#[tokio::test]
async fn vendor_rules_block_with_the_numbers() {
    let (desired, sources) = example();
    let m = Memory::new();
    let mut state = StateSnapshot::default();
    // Datto: 90 unlicensed users against a cap of 80.
    let ck = key("Customer/acme", Vendor::Datto, "client");
    m.vendor(Vendor::Datto).insert(observed(
        Vendor::Datto,
        "client",
        "7",
        &[("domain", "acme.example"), ("product", "Office365")],
        as_created(&desired, &ck),
    ));
    bind(
        &mut state,
        ck,
        "7",
        "2026-11-01T00:00:00Z",
        json!({"term": "oneYear", "autoAdd": true, "licenseCap": 80, "region": "uk"}),
    );
    let seats: Vec<_> =
        (0..90).map(|i| json!({"id": format!("u{i:02}"), "type": "User", "state": "Unprotected"})).collect();
    let mut so = observed(Vendor::Datto, "seats", "7", &[("domain", "acme.example")], json!({"seats": seats}));
    so.parent_id = Some("7".into());
    m.vendor(Vendor::Datto).insert(so);
    // VeloCloud: an image an edge still runs is dropped from the manifest.
    let ek = key("Customer/acme", Vendor::Velocloud, "enterprise");
    let mut fields = as_created(&desired, &ek);
    fields["softwareImages"] = json!(["edge-5.0.0", "edge-5.2.0", "edge-5.4.1"]);
    fields["imagesInUse"] = json!({"edge-5.0.0": ["leeds-edge-1"], "edge-5.4.1": ["leeds-edge-2"]});
    m.vendor(Vendor::Velocloud).insert(observed(
        Vendor::Velocloud,
        "enterprise",
        "42",
        &[("name", "Acme Corp")],
        fields,
    ));
    bind(&mut state, ek, "42", "2026-11-01T00:00:00Z", json!({}));

    let p = plan_with(&desired, &sources, &m, &state, PlanOptions::default()).await;
    let cap = action(&p, "customer/acme/datto/seats:adopt");
    assert_eq!(
        cap.blocked.as_deref(),
        Some(
            "licensing 90 more seats would exceed the license cap: 0 active + 90 = 90 > 80; raise licensing.cap.seats or narrow licensing.seatTypes"
        )
    );
    let img = action(&p, "customer/acme/velocloud/enterprise:sync");
    assert_eq!(
        img.blocked.as_deref(),
        Some(
            "cannot remove a software image an edge still uses: image edge-5.0.0 is still run by edge leeds-edge-1; upgrade those edges first"
        )
    );
}

#[tokio::test]
async fn profiles_supply_fields_and_the_customer_wins() {
    let (desired, _) = example();
    let models = tenantry::provider::models();
    let objs = engine::desire(&desired, &models);
    let client = objs.iter().find(|d| d.key == key("Customer/acme", Vendor::Datto, "client")).unwrap();
    let v = |f: &str| client.fields[f].value.json().cloned().unwrap();
    assert_eq!(v("term"), json!("oneYear"), "from the m365-standard profile");
    assert_eq!(v("licenseCap"), json!(80), "the customer's own cap wins over the profile's 50");
    let wayne = objs.iter().find(|d| d.key.owner == ManifestRef::customer("wayne") && d.key.vendor == Vendor::Avepoint);
    assert!(wayne.is_none(), "`avepoint: null` removes the profile's block");
}

#[tokio::test]
async fn the_same_inputs_give_the_same_plan_byte_for_byte() {
    let (desired, sources) = example();
    let m = Memory::new();
    m.vendor(Vendor::Veeam).insert(observed(
        Vendor::Veeam,
        "company",
        "b",
        &[("name", "Globex Corporation")],
        json!({}),
    ));
    m.vendor(Vendor::Veeam).insert(observed(Vendor::Veeam, "company", "a", &[("name", "Acme Corp")], json!({})));
    let one = tenantry::plan::json::render(
        &plan_with(&desired, &sources, &m, &StateSnapshot::default(), PlanOptions::default()).await,
    );
    let two = tenantry::plan::json::render(
        &plan_with(&desired, &sources, &m, &StateSnapshot::default(), PlanOptions::default()).await,
    );
    assert_eq!(one, two);
}

#[tokio::test]
async fn plan_json_validates_against_the_committed_schema() {
    let (desired, sources) = example();
    let m = Memory::new();
    let p = plan_with(&desired, &sources, &m, &StateSnapshot::default(), PlanOptions::default()).await;
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join("schemas/plan.schema.json")).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&tenantry::plan::json::render(&p)).unwrap();
    let errors: Vec<String> =
        validator.iter_errors(&doc).take(5).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(doc["formatVersion"], 1);
    let parsed = tenantry::plan::json::parse(&tenantry::plan::json::render(&p)).unwrap();
    assert_eq!(parsed, p, "a saved plan reads back unchanged");
}

#[tokio::test]
async fn secrets_never_appear_and_a_changed_reference_reads_as_sensitive() {
    // SAFETY of the test: the variable is planted only in this process.
    unsafe { std::env::set_var("ACME_VCO_ADMIN_PASSWORD", "planted-Secret-4242") };
    let (desired, sources) = example();
    let m = Memory::new();
    let k = key("Customer/acme", Vendor::Velocloud, "enterprise");
    m.vendor(Vendor::Velocloud).insert(observed(
        Vendor::Velocloud,
        "enterprise",
        "42",
        &[("name", "Acme Corp")],
        as_created(&desired, &k),
    ));
    let mut state = StateSnapshot::default();
    bind(&mut state, k, "42", "2026-11-01T00:00:00Z", json!({"adminPassword": "env:OLD_ACME_PASSWORD"}));
    let p = plan_with(&desired, &sources, &m, &state, PlanOptions::default()).await;
    let n = names(&desired);
    let outputs =
        [render::text(&p, &n, render::Style::new(true)), render::markdown(&p, &n), tenantry::plan::json::render(&p)];
    for out in &outputs {
        assert!(!out.contains("planted-Secret-4242"));
    }
    assert!(outputs[0].contains("adminPassword: (sensitive value changed)"), "{}", outputs[0]);
}

/// A plan of the example's acme with every kind of entry: creates, a conflict, blocked steps,
/// portal tasks and a sync with a scalar and a list change.
async fn mixed_plan() -> (Plan, render::Names) {
    let (desired, sources) = example();
    let m = Memory::new();
    let mut state = StateSnapshot::default();
    let k = key("Customer/acme", Vendor::Velocloud, "enterprise");
    let mut fields = as_created(&desired, &k);
    fields["accountNumber"] = json!("A-17");
    // Licences cannot be read back from the VCO: drift shows against what was applied.
    let mut applied = as_applied(&desired, &k);
    applied["edgeLicenses"] = json!(["standard-100m-emea"]);
    m.vendor(Vendor::Velocloud).insert(observed(
        Vendor::Velocloud,
        "enterprise",
        "42",
        &[("name", "Acme Corp")],
        fields,
    ));
    bind(&mut state, k, "42", "2026-11-01T00:00:00Z", applied);
    m.vendor(Vendor::Veeam).insert(observed(Vendor::Veeam, "company", "c0ffee", &[("name", "Acme Corp")], json!({})));
    let mut narrowed = desired.clone();
    narrowed.retain(|r| r == &ManifestRef::customer("acme"));
    let p = plan_with(
        &narrowed,
        &sources,
        &m,
        &state,
        PlanOptions { targets: vec!["Customer/acme".into()], ..Default::default() },
    )
    .await;
    (p, names(&desired))
}

/// Snapshots of the three renderers on a plan with every kind of entry.
#[tokio::test]
async fn renderer_snapshots() {
    let (p, n) = mixed_plan().await;
    insta::assert_snapshot!("plan_text", render::text(&p, &n, render::Style::new(false)));
    insta::assert_snapshot!("plan_markdown", render::markdown(&p, &n));
    // The same plan over a small budget: the table, the details that fit, the note.
    let small = render::MarkdownOptions { budget: render::MIN_MARKDOWN_BUDGET, full_plan: Some("plan.json".into()) };
    insta::assert_snapshot!("plan_markdown_over_budget", render::markdown_with(&p, &n, &small));
    let json: serde_json::Value = serde_json::from_str(&tenantry::plan::json::render(&p)).unwrap();
    insta::assert_json_snapshot!(
        "plan_json_sync_action",
        json["actions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == "customer/acme/velocloud/enterprise:sync")
            .unwrap()
    );
}

#[tokio::test]
async fn text_and_markdown_show_the_values_a_portal_task_asks_for_and_secrets_only_as_references() {
    // SAFETY of the test: the variable is planted only in this process.
    unsafe { std::env::set_var("PLANTED_PORTAL_PASSWORD", "planted-Portal-9191") };
    let (mut p, n) = mixed_plan().await;
    // No example portal form takes a secret today; a vendor's form may: the planner writes it as a
    // reference, and the renderers must keep it one.
    let datto = p.actions.iter_mut().find(|a| a.id.starts_with("customer/acme/datto/")).expect("a Datto task");
    datto
        .task
        .as_mut()
        .unwrap()
        .values
        .insert("portalPassword".into(), json!({"secretRef": "env:PLANTED_PORTAL_PASSWORD"}));
    let text = render::text(&p, &n, render::Style::new(false));
    let markdown = render::markdown(&p, &n);
    for (what, out, prefix) in [("text", &text, "        + "), ("markdown", &markdown, "+     ")] {
        for value in [
            // Datto's "Add SaaS Protection Client" form: region, term, retention, client user.
            r#"region: "uk""#,
            r#"term: "oneYear""#,
            r#"retentionType: "ICR""#,
            r#"clientUserEmail: "ada@acme.example""#,
            r#"clientUserMobile: "7700 900001""#,
            // VDC registration: primary admin and who it is.
            r#"vdcPrimaryAdministrator: "Customer Managed""#,
            r#"adminEmail: "ada@acme.example""#,
            "portalPassword: (secret env:PLANTED_PORTAL_PASSWORD)",
        ] {
            let line = format!("{prefix}{value}");
            assert!(out.lines().any(|l| l == line), "{what} lacks `{line}`:\n{out}");
        }
        assert!(!out.contains("planted-Portal-9191"), "{what} shows a secret value");
    }
}

#[tokio::test]
async fn every_diff_line_of_the_markdown_plan_has_its_marker_at_column_0() {
    let (p, n) = mixed_plan().await;
    let md = render::markdown(&p, &n);
    let mut in_diff = false;
    let mut diff_lines = 0;
    for line in md.lines() {
        if line == "```diff" {
            in_diff = true;
            continue;
        }
        if line == "```" {
            in_diff = false;
            continue;
        }
        if !in_diff {
            continue;
        }
        diff_lines += 1;
        let first = line.chars().next().unwrap_or(' ');
        match first {
            '+' | '-' | '!' | '#' => assert_eq!(line.chars().nth(1), Some(' '), "marker without a space: {line:?}"),
            ' ' => {
                let rest = line.trim_start();
                assert!(
                    !["+ ", "- ", "~ ", "! ", "? "].iter().any(|m| rest.starts_with(m)),
                    "an indented marker GitHub would not colour: {line:?}"
                );
            }
            _ => panic!("a diff line that is neither a marker nor context: {line:?}"),
        }
    }
    assert!(diff_lines > 100, "{md}");
    // The sync: its header and its old and new values are coloured lines.
    let lines: Vec<&str> = md.lines().collect();
    assert!(lines.iter().any(|l| l.starts_with("! sync ") && l.contains(r#"customer "Acme Corp""#)), "{md}");
    assert!(lines.contains(&r#"-     accountNumber: "A-17""#), "{md}");
    assert!(lines.contains(&r#"+     accountNumber: "ACME-0001""#), "{md}");
    assert!(lines.contains(&r#"+         "premium-1g-emea""#), "{md}");
    // Creates, conflicts and portal tasks.
    assert!(lines.contains(&r#"+     city: "Leeds""#), "{md}");
    assert!(lines.iter().any(|l| l.starts_with("! conflict ")), "{md}");
    assert!(lines.iter().any(|l| l.starts_with("! portal-task ")), "{md}");
}

/// A repository of `count` generated customers (as the benchmarks make them).
fn generated(count: usize) -> (tempfile::TempDir, DesiredState, manifest::SourceMap) {
    let dir = tempfile::tempdir().unwrap();
    crate::common::generate(dir.path(), count);
    let (desired, sources) = crate::common::load(dir.path());
    (dir, desired, sources)
}

#[tokio::test]
async fn a_markdown_plan_of_many_owners_fits_one_comment_and_names_what_it_left_out() {
    let (_dir, desired, sources) = generated(200);
    let p = plan_with(&desired, &sources, &Memory::new(), &StateSnapshot::default(), PlanOptions::default()).await;
    let n = names(&desired);
    let owners: std::collections::BTreeSet<&ManifestRef> = p.actions.iter().map(|a| &a.key.owner).collect();
    assert!(owners.len() > 200);
    let sum = p.summary();

    for (options, budget) in [
        (render::MarkdownOptions::default(), 60_000),
        (render::MarkdownOptions { budget: 20_000, full_plan: Some("plan.json".into()) }, 20_000),
    ] {
        let md = render::markdown_with(&p, &n, &options);
        assert!(md.len() <= budget && md.chars().count() < 65_536, "{} characters", md.len());
        // The summary table comes first and counts every action.
        let table = md.find("| owner | create |").expect("a summary table");
        assert!(table < md.find("<details>").expect("some details"));
        let total = format!("| **all {} owners** | {} |", owners.len(), sum.create);
        assert!(md.contains(&total), "no `{total}` in the table");
        assert!(md.contains(&format!("**Plan:** {}.", sum.line())));
        // Every owner is either shown in detail or named (or counted) as left out.
        let shown: Vec<&ManifestRef> =
            owners.iter().copied().filter(|o| md.contains(&format!("<summary><b>{o}</b>"))).collect();
        assert!(!shown.is_empty() && shown.len() < owners.len());
        let left_out = owners.len() - shown.len();
        let note = md.find("**Left out to fit one comment**").map(|i| &md[i..]).expect("a note on what was left out");
        assert!(note.contains(&format!("the details of {left_out} owners: ")), "{note}");
        let first_left_out = owners.iter().find(|o| !shown.contains(o)).unwrap();
        assert!(note.contains(&format!("`{first_left_out}`")), "{note}");
        match &options.full_plan {
            Some(file) => assert!(note.contains(&format!("`{file}`")), "{note}"),
            None => assert!(note.contains("--out"), "{note}"),
        }
    }

    // However long the path given to --out, the note keeps to the budget.
    let long = render::MarkdownOptions { budget: render::MIN_MARKDOWN_BUDGET, full_plan: Some("d/".repeat(2_000)) };
    let md = render::markdown_with(&p, &n, &long);
    assert!(md.len() <= render::MIN_MARKDOWN_BUDGET && md.contains("the file given to `--out`"), "{md}");

    // A plan that fits is shown whole, without the note.
    let (small, n) = mixed_plan().await;
    let md = render::markdown(&small, &n);
    assert!(!md.contains("Left out"), "{md}");
    assert!(md.contains("<summary><b>Customer/acme</b>"));
}

#[tokio::test]
async fn an_acronis_activation_email_recorded_as_sent_goes_again_only_when_the_email_changes() {
    let (desired, sources) = example();
    let uk = key("Customer/acme", Vendor::Acronis, "user");
    let tk = key("Customer/acme", Vendor::Acronis, "tenant");
    let plan_for = |email: &'static str| {
        let (desired, sources, uk, tk) = (desired.clone(), sources.clone(), uk.clone(), tk.clone());
        async move {
            let m = Memory::new();
            let mut fields = as_created(&desired, &uk);
            fields["email"] = json!(email);
            fields["activated"] = json!(false);
            let mut u = observed(Vendor::Acronis, "user", "u-1", &[("login", "acme-admin")], fields);
            u.parent_id = Some("t-1".into());
            m.vendor(Vendor::Acronis).insert(u);
            let t = observed(Vendor::Acronis, "tenant", "t-1", &[("name", "Acme Corp")], as_created(&desired, &tk));
            m.vendor(Vendor::Acronis).insert(t);
            let mut state = StateSnapshot::default();
            bind(&mut state, tk, "t-1", "2026-11-19T08:00:00Z", json!({}));
            // What tenantry recorded before it kept the address an activation e-mail went to.
            bind(&mut state, uk, "u-1", "2026-11-19T08:00:00Z", json!({"activationEmail": "sent"}));
            plan_with(&desired, &sources, &m, &state, PlanOptions::default()).await
        }
    };
    // Same address: the e-mail went there; nothing to send.
    let p = plan_for("it@acme.example").await;
    assert!(!p.actions.iter().any(|a| a.id == "customer/acme/acronis/user:sync"), "{:#?}", p.actions);
    // A corrected address: the e-mail goes again, to the new one.
    let p = plan_for("old@acme.example").await;
    let fields: Vec<&str> =
        action(&p, "customer/acme/acronis/user:sync").changes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, ["activationEmail", "email"]);
}

#[tokio::test]
async fn google_workspace_seats_are_a_portal_task_that_closes_when_they_show_active() {
    let (desired, sources) = example();
    let m = Memory::new();
    let mut state = StateSnapshot::default();
    let ck = key("Customer/globex", Vendor::Datto, "client");
    let sk = key("Customer/globex", Vendor::Datto, "seats");
    let client = as_created(&desired, &ck);
    m.vendor(Vendor::Datto).insert(observed(
        Vendor::Datto,
        "client",
        "9",
        &[("domain", "globex.example"), ("product", "GoogleApps")],
        client.clone(),
    ));
    bind(&mut state, ck, "9", "2026-11-01T00:00:00Z", client);
    bind(&mut state, sk.clone(), "9", "2026-11-01T00:00:00Z", json!({}));
    let seats = |user02: &str| {
        json!({"seats": [
            {"id": "r1", "name": "user01@globex.example", "type": "User", "state": "Active"},
            {"id": "r2", "name": "user02@globex.example", "type": "User", "state": user02},
            {"id": "r3", "name": "old@globex.example", "type": "User", "state": "Archived"},
            {"id": "r4", "name": "shared-info@globex.example", "type": "SharedDrive", "state": "Active"},
        ]})
    };
    let mut so = observed(Vendor::Datto, "seats", "9", &[("domain", "globex.example")], seats("Paused"));
    so.parent_id = Some("9".into());
    m.vendor(Vendor::Datto).insert(so);

    // A paused seat of a declared type: no API change (bulkSeatChange refuses Google), a task.
    let p = plan_with(&desired, &sources, &m, &state, PlanOptions::default()).await;
    let ours: Vec<&str> = p.actions.iter().filter(|a| a.key == sk).map(|a| a.id.as_str()).collect();
    assert_eq!(ours, ["customer/globex/datto/seats:task:license-seats"], "{:#?}", p.actions);
    let a = action(&p, "customer/globex/datto/seats:task:license-seats");
    assert_eq!(a.kind, tenantry::plan::ActionKind::PortalTask);
    assert_eq!(a.vendor_id.as_deref(), Some("9"));
    assert!(a.reason.starts_with("1 User/SharedDrive seat of globex.example is not protected"), "{}", a.reason);
    let t = a.task.as_ref().unwrap();
    assert_eq!(t.form.verify, tenantry::provider::Verify::Observation);
    assert_eq!(t.values["seats"], json!({"User": ["user02@globex.example"]}));
    assert_eq!(t.values["seatsToLicense"], json!(1));
    assert_eq!(t.values["activeSeats"], json!(2));
    assert_eq!(t.values["licenseCap"], json!("none"));

    // Handed out: awaited while the seat is not Active, verified once it is.
    state.tasks.push(TaskRecord {
        id: "T-5".into(),
        key: sk.clone(),
        task: "datto/license-seats".into(),
        vendor: Vendor::Datto,
        page: t.form.page.clone(),
        title: t.title.clone(),
        target: Some("9".into()),
        values: t.values.clone(),
        verify: tenantry::provider::Verify::Observation,
        created_at: "2026-11-20T09:00:00Z".parse().unwrap(),
        status: TaskStatus::Open,
        delivered: Some("recorded".into()),
        note: None,
    });
    let p = plan_with(&desired, &sources, &m, &state, PlanOptions::default()).await;
    let wait = action(&p, "customer/globex/datto/seats:await:license-seats");
    assert!(wait.hint.as_deref().unwrap().starts_with("it closes itself once the result shows at datto"), "{wait:?}");
    assert!(p.verified_tasks.is_empty(), "{:?}", p.verified_tasks);
    m.vendor(Vendor::Datto).edit("seats", "9", |o| o.fields = serde_json::from_value(seats("Active")).unwrap());
    let p = plan_with(&desired, &sources, &m, &state, PlanOptions::default()).await;
    assert!(p.actions.iter().all(|a| a.key != sk), "{:#?}", p.actions);
    assert_eq!(p.verified_tasks, ["T-5"]);
}

/// An orphan tenant goes with what is under it: a stranger's tenant under it, at any depth (under
/// a child orphan too), blocks its delete with the reason; a child orphan alone goes with it.
#[tokio::test]
async fn a_pruned_tenant_with_a_strangers_tenant_under_it_at_any_depth_is_not_deleted() {
    let (desired, sources) = example();
    let m = Memory::new();
    let mut old = observed(Vendor::Acronis, "tenant", "old-1", &[("name", "Old Partner")], json!({}));
    old.marker = Some("tenantry:oldpartner".into());
    m.vendor(Vendor::Acronis).insert(old);
    let mut child = observed(Vendor::Acronis, "tenant", "old-2", &[("name", "Old Customer")], json!({}));
    child.marker = Some("tenantry:oldcustomer".into());
    child.parent_id = Some("old-1".into());
    m.vendor(Vendor::Acronis).insert(child);
    let state = StateSnapshot::default();
    let prune = PlanOptions { prune: true, ..Default::default() };

    let alone = plan_with(&desired, &sources, &m, &state, prune.clone()).await;
    let delete = alone.actions.iter().find(|a| a.vendor_id.as_deref() == Some("old-1")).expect("a delete");
    assert_eq!(delete.kind, ActionKind::Delete);
    assert_eq!(delete.blocked, None, "only tenantry's orphan under it: {delete:#?}");

    let mut stranger = observed(Vendor::Acronis, "tenant", "s-1", &[("name", "Someone Else")], json!({}));
    stranger.parent_id = Some("old-2".into());
    m.vendor(Vendor::Acronis).insert(stranger);
    let plan = plan_with(&desired, &sources, &m, &state, prune).await;
    let delete = plan.actions.iter().find(|a| a.vendor_id.as_deref() == Some("old-1")).expect("a delete");
    let why = delete.blocked.as_deref().unwrap_or_else(|| panic!("not blocked: {delete:#?}"));
    assert!(
        why.contains("deleting it would delete what is under it") && why.contains("Someone Else (id s-1)"),
        "{why}"
    );
    assert!(!delete.deferred, "a stranger's tenant does not go away by itself");
    let note = plan.orphans.iter().find(|o| o.vendor_id == "old-1").map(|o| o.note.as_str());
    assert!(note.is_some_and(|n| n.starts_with("left alone: deleting it would delete")), "{note:?}");
}
