//! The process's metrics, in the Prometheus text format `tenantry serve` exposes at `/metrics`.
//!
//! One registry per process, as Prometheus clients keep by default: the vendor connections
//! count their requests here wherever they run (`plan`, `apply`, `serve`), and only `serve`
//! exposes them. Labels are bounded: vendors, HTTP status codes, action kinds and results, and
//! the manifests' customers and resellers; never an id, a URL or a value.

use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct VendorLabel {
    pub vendor: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RequestLabels {
    pub vendor: String,
    /// The HTTP status, or `error` when no answer came (refused, dropped, timed out).
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ActionLabels {
    pub kind: String,
    /// `ok`, `pending`, `failed`, `skipped`.
    pub result: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct OwnerLabel {
    /// `Customer/acme`, `Reseller/northwind`.
    pub owner: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct AgeLabel {
    /// How long the awaits have waited: `lt_1h`, `1h_to_1d`, `gt_1d`.
    pub age: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct PassLabel {
    /// `converged`, `waiting`, `failed`, `refused`, `interrupted`.
    pub result: String,
}

/// Every metric tenantry keeps.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<VendorLabel, Histogram>,
    pub retries: Family<VendorLabel, Counter>,
    pub throttled: Family<VendorLabel, Counter>,
    pub actions: Family<ActionLabels, Counter>,
    pub tasks_open: Gauge,
    pub awaits: Family<AgeLabel, Gauge>,
    pub drifted: Gauge,
    pub last_success: Family<OwnerLabel, Gauge<f64, AtomicU64>>,
    pub passes: Family<PassLabel, Counter>,
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("tenantry");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "vendor_requests",
            "Requests sent to the vendors, by vendor and HTTP status",
            requests.clone(),
        );
        let latency = Family::<VendorLabel, Histogram>::new_with_constructor(|| {
            Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])
        });
        registry.register(
            "vendor_request_duration_seconds",
            "Time from sending a request to its answer",
            latency.clone(),
        );
        let retries = Family::<VendorLabel, Counter>::default();
        registry.register("vendor_retries", "Requests sent again after a failure or a throttle", retries.clone());
        let throttled = Family::<VendorLabel, Counter>::default();
        registry.register("vendor_throttled", "Answers 429 Too Many Requests", throttled.clone());
        let actions = Family::<ActionLabels, Counter>::default();
        registry.register("actions", "Actions executed, by kind and result", actions.clone());
        let tasks_open = Gauge::default();
        registry.register("portal_tasks_open", "Portal tasks open in the state store", tasks_open.clone());
        let awaits = Family::<AgeLabel, Gauge>::default();
        registry.register("awaits", "Awaits in the last reconcile, by how long they have waited", awaits.clone());
        let drifted = Gauge::default();
        registry.register(
            "drifted_objects",
            "Vendor objects that differ from the manifests after they had converged (the last reconcile)",
            drifted.clone(),
        );
        let last_success = Family::<OwnerLabel, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "last_successful_reconcile_timestamp_seconds",
            "When each customer and reseller was last reconciled without a failure (Unix time)",
            last_success.clone(),
        );
        let passes = Family::<PassLabel, Counter>::default();
        registry.register(
            "reconcile_passes",
            "Reconcile passes of `tenantry serve`, by how they ended",
            passes.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            retries,
            throttled,
            actions,
            tasks_open,
            awaits,
            drifted,
            last_success,
            passes,
        }
    }

    /// The Prometheus text exposition (format 0.0.4) of everything.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }

    pub fn request(&self, vendor: crate::model::Vendor, status: Option<u16>, seconds: f64) {
        let status = status.map_or_else(|| "error".to_string(), |s| s.to_string());
        self.requests.get_or_create(&RequestLabels { vendor: vendor.to_string(), status }).inc();
        self.latency.get_or_create(&VendorLabel { vendor: vendor.to_string() }).observe(seconds);
    }

    pub fn retry(&self, vendor: crate::model::Vendor) {
        self.retries.get_or_create(&VendorLabel { vendor: vendor.to_string() }).inc();
    }

    pub fn throttle(&self, vendor: crate::model::Vendor) {
        self.throttled.get_or_create(&VendorLabel { vendor: vendor.to_string() }).inc();
    }

    pub fn action(&self, kind: crate::core::ActionKind, result: &str) {
        self.actions.get_or_create(&ActionLabels { kind: kind.word().to_string(), result: result.to_string() }).inc();
    }
}

/// The metrics `Content-Type`.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The process's metrics.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_in_the_text_form() {
        let m = Metrics::new();
        m.request(crate::model::Vendor::Acronis, Some(200), 0.02);
        m.request(crate::model::Vendor::Acronis, None, 1.0);
        m.throttle(crate::model::Vendor::Datto);
        let text = m.encode();
        assert!(text.contains("tenantry_vendor_requests_total{vendor=\"acronis\",status=\"200\"} 1"), "{text}");
        assert!(text.contains("tenantry_vendor_requests_total{vendor=\"acronis\",status=\"error\"} 1"), "{text}");
        assert!(text.contains("tenantry_vendor_throttled_total{vendor=\"datto\"} 1"), "{text}");
        assert!(text.contains("tenantry_vendor_request_duration_seconds_count{vendor=\"acronis\"} 2"), "{text}");
        assert!(text.contains("# TYPE tenantry_portal_tasks_open gauge"), "{text}");
    }
}
