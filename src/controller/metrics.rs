//! The controller's metrics, in the Prometheus text format (`/metrics`): vendor requests (from
//! the HTTP layer), actions by kind and result, passes, drift, open portal tasks, waits, and
//! the last successful reconcile of each owner.

use std::collections::BTreeMap;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{OwnerReport, PassReport};
use crate::model::ManifestRef;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    pub vendor: String,
    pub kind: String,
    /// `ok`, `pending`, `failed`, `skipped`.
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// `ok` (every owner of the pass reconciled or waiting), `failed` (one or more failed).
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OwnerLabel {
    /// `Customer/acme`.
    pub owner: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WaitLabel {
    /// `vendor` or `person`.
    pub waits_for: String,
}

pub struct Metrics {
    registry: Registry,
    pub passes: Family<ResultLabel, Counter>,
    pub actions: Family<ActionLabels, Counter>,
    /// Objects whose drift is held back (policy `report`), over every owner's last pass.
    pub drifted: Gauge,
    pub open_tasks: Gauge,
    pub waiting: Family<WaitLabel, Gauge>,
    pub failing: Gauge,
    pub last_success: Family<OwnerLabel, Gauge>,
    /// Per owner, its last pass's report (what the gauges sum).
    last: std::sync::Mutex<BTreeMap<ManifestRef, OwnerReport>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tenantry");
        let http = crate::provider::telemetry::http();
        registry.register(
            "vendor_requests",
            "HTTP requests to the vendors, by vendor and status (`error`: no answer)",
            http.requests.clone(),
        );
        registry.register(
            "vendor_request_duration_seconds",
            "Time to the vendor's answer (status line), by vendor",
            http.duration.clone(),
        );
        registry.register("vendor_retries", "Requests sent again after a failure or a 429", http.retries.clone());
        registry.register("vendor_throttled", "Answers of 429 Too Many Requests", http.throttled.clone());
        let m = Metrics {
            registry,
            passes: Family::default(),
            actions: Family::default(),
            drifted: Gauge::default(),
            open_tasks: Gauge::default(),
            waiting: Family::default(),
            failing: Gauge::default(),
            last_success: Family::default(),
            last: std::sync::Mutex::new(BTreeMap::new()),
        };
        let mut m = m;
        let r = &mut m.registry;
        r.register("reconcile_passes", "Reconcile passes, by result", m.passes.clone());
        r.register("actions", "Actions executed, by vendor, kind and result", m.actions.clone());
        r.register(
            "drifted_objects",
            "Vendor objects changed at the vendor and held back by drift policy `report`",
            m.drifted.clone(),
        );
        r.register("open_portal_tasks", "Portal tasks waiting for an operator", m.open_tasks.clone());
        r.register("waiting_objects", "Objects waiting for the vendor or a person, by who", m.waiting.clone());
        r.register("failing_owners", "Customers and resellers whose last pass failed", m.failing.clone());
        r.register(
            "last_reconcile_success_timestamp_seconds",
            "When each customer or reseller was last reconciled without failure (Unix time)",
            m.last_success.clone(),
        );
        m
    }

    /// Count a pass, and keep its owners' reports for the gauges.
    pub fn pass(&self, report: &PassReport) {
        for (vendor, kind, result) in &report.actions {
            let labels =
                ActionLabels { vendor: vendor.to_string(), kind: kind.word().to_string(), result: result.to_string() };
            self.actions.get_or_create(&labels).inc();
        }
        let failed = report.error.is_some() || report.owners.values().any(OwnerReport::failed);
        let result = if failed { "failed" } else { "ok" };
        self.passes.get_or_create(&ResultLabel { result: result.into() }).inc();
        let now = jiff::Timestamp::now().as_second();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        for (o, r) in &report.owners {
            if !r.failed() {
                self.last_success.get_or_create(&OwnerLabel { owner: o.to_string() }).set(now);
            }
            last.insert(o.clone(), r.clone());
        }
        let sum = |f: fn(&OwnerReport) -> usize| last.values().map(f).sum::<usize>() as i64;
        self.drifted.set(sum(|r| r.drifted.len()));
        self.failing.set(sum(|r| usize::from(r.failed())));
        self.waiting.get_or_create(&WaitLabel { waits_for: "vendor".into() }).set(sum(|r| r.waiting_vendor));
        self.waiting.get_or_create(&WaitLabel { waits_for: "person".into() }).set(sum(|r| r.waiting_person));
    }

    /// Forget an owner the manifests no longer declare.
    pub fn forget(&self, owner: &ManifestRef) {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).remove(owner);
        self.last_success.remove(&OwnerLabel { owner: owner.to_string() });
    }

    /// The last report of each owner.
    pub fn reports(&self) -> BTreeMap<ManifestRef, OwnerReport> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry) {
            tracing::warn!("cannot encode the metrics: {e}");
        }
        out
    }
}

/// The `Content-Type` of [`Metrics::render`].
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
