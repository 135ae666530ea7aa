//! What the HTTP layer counts, for `tenantry serve`'s `/metrics`: requests per vendor and
//! status, their latency, retries and throttling. Process-wide (every connection of a vendor
//! adds to the same series); cheap when nobody reads them.

use std::sync::OnceLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use crate::model::Vendor;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub vendor: String,
    /// The HTTP status, or `error` when no answer came (connection refused, timeout, cut off).
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VendorLabel {
    pub vendor: String,
}

pub struct HttpMetrics {
    pub requests: Family<RequestLabels, Counter>,
    pub duration: Family<VendorLabel, Histogram, fn() -> Histogram>,
    pub retries: Family<VendorLabel, Counter>,
    pub throttled: Family<VendorLabel, Counter>,
}

fn latency() -> Histogram {
    // 5 ms .. about 20 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

pub fn http() -> &'static HttpMetrics {
    static METRICS: OnceLock<HttpMetrics> = OnceLock::new();
    METRICS.get_or_init(|| HttpMetrics {
        requests: Family::default(),
        duration: Family::new_with_constructor(latency),
        retries: Family::default(),
        throttled: Family::default(),
    })
}

pub(crate) fn answered(vendor: Vendor, status: Option<u16>, seconds: f64) {
    let m = http();
    let status = status.map_or_else(|| "error".to_string(), |s| s.to_string());
    m.requests.get_or_create(&RequestLabels { vendor: vendor.to_string(), status }).inc();
    m.duration.get_or_create(&VendorLabel { vendor: vendor.to_string() }).observe(seconds);
}

pub(crate) fn retried(vendor: Vendor) {
    http().retries.get_or_create(&VendorLabel { vendor: vendor.to_string() }).inc();
}

pub(crate) fn throttled(vendor: Vendor) {
    http().throttled.get_or_create(&VendorLabel { vendor: vendor.to_string() }).inc();
}
