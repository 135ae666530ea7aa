//! Fault injection: seeded, per vendor. Latency (fixed or a range), and rates of 5xx, 429,
//! dropped connections, "commit, then lose the response", and answers tenantry must refuse to
//! read.
//!
//! Spec syntax (`--faults`): comma-separated `kind=rate` pairs applying to every vendor,
//! optionally prefixed by a vendor: `5xx=0.05,429=0.02,drop=0.01,lose=0.05` or
//! `acronis:lose=0.2,veeam:5xx=0.1`. Latency (`--latency`): `50` (ms) or `20..80`. A running
//! sandbox takes a new spec at `POST /_sandbox/faults` (see `admin`).
//!
//! Delivery faults, every vendor, every request:
//! - `5xx`: a server error in the vendor's shape instead of handling the request;
//! - `429`: throttled, in the vendor's shape;
//! - `drop`: the connection drops before the request is handled;
//! - `lose`: the request is handled (committed), then the connection drops.
//!
//! Answer faults change a successful (2xx) answer after the request was handled; token
//! endpoints (`…/token`) are never changed, so the fault shows on the call tenantry relies on:
//! - `malformed`, every vendor: the body is replaced by an HTML page, not JSON;
//! - `missing`, every vendor, list answers only (a JSON array at the top or under `data`,
//!   `items` or `result`): each record loses its id field (`id`, `instanceUid`,
//!   `saasCustomerId`, `accountId`, `customerId`, `userName`, `remoteId`);
//! - `cursor`, Acronis only (the only cursor-paged vendor): every list answer names the same
//!   `paging.cursors.after`, and a request with that cursor gets an empty page naming it again;
//! - `endless`, the paged vendors: Veeam (`meta.pagingInfo.total`), AvePoint
//!   (`metadata.totalCount`) and WatchGuard (`totalItems`) name 1000 more records than they
//!   serve; Acronis names a fresh next cursor on every page, forever. Datto's and the VCO's
//!   lists are whole arrays without paging: `endless` and `cursor` leave them alone.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::model::Vendor;

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Rates {
    /// A server error instead of handling the request.
    pub server_error: f64,
    /// Too many requests.
    pub throttle: f64,
    /// The connection drops before the request is handled.
    pub drop: f64,
    /// The request is handled (committed), then the connection drops.
    pub lose: f64,
    /// A successful answer's body is not JSON.
    #[serde(default)]
    pub malformed: f64,
    /// A list answer's records lack their id.
    #[serde(default)]
    pub missing: f64,
    /// A cursor-paged answer repeats the same next cursor forever.
    #[serde(default)]
    pub cursor: f64,
    /// A paged answer always claims more to come.
    #[serde(default)]
    pub endless: f64,
}

impl Rates {
    fn any(&self) -> bool {
        self.ladder().iter().any(|(rate, _)| *rate > 0.0)
    }

    /// Each fault with its rate, in the order the dice reads them.
    fn ladder(&self) -> [(f64, Decision); 8] {
        [
            (self.server_error, Decision::ServerError),
            (self.throttle, Decision::Throttle),
            (self.drop, Decision::Drop),
            (self.lose, Decision::Lose),
            (self.malformed, Decision::Malformed),
            (self.missing, Decision::Missing),
            (self.cursor, Decision::Cursor),
            (self.endless, Decision::Endless),
        ]
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultSpec {
    pub all: Rates,
    pub vendors: BTreeMap<Vendor, Rates>,
}

impl FaultSpec {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut spec = FaultSpec::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (scope, rest) = match part.split_once(':') {
                Some((v, rest)) => {
                    (Some(Vendor::parse(v).ok_or_else(|| format!("unknown vendor `{v}` in `{part}`"))?), rest)
                }
                None => (None, part),
            };
            let (kind, rate) = rest.split_once('=').ok_or_else(|| format!("`{part}` is not kind=rate"))?;
            let rate: f64 = rate.parse().map_err(|_| format!("`{rate}` is not a rate between 0 and 1"))?;
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("rate {rate} is not between 0 and 1"));
            }
            let rates = match scope {
                Some(v) => spec.vendors.entry(v).or_insert(spec.all),
                None => &mut spec.all,
            };
            match kind {
                "5xx" => rates.server_error = rate,
                "429" => rates.throttle = rate,
                "drop" => rates.drop = rate,
                "lose" => rates.lose = rate,
                "malformed" => rates.malformed = rate,
                "missing" => rates.missing = rate,
                "cursor" => rates.cursor = rate,
                "endless" => rates.endless = rate,
                other => {
                    return Err(format!(
                        "unknown fault `{other}`; use 5xx, 429, drop, lose, malformed, missing, cursor or endless"
                    ));
                }
            }
        }
        Ok(spec)
    }

    pub fn for_vendor(&self, v: Vendor) -> Rates {
        self.vendors.get(&v).copied().unwrap_or(self.all)
    }

    pub fn is_empty(&self) -> bool {
        !self.all.any() && self.vendors.values().all(|r| !r.any())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub min_ms: u64,
    pub max_ms: u64,
}

impl Latency {
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not a latency in milliseconds (`50` or `20..80`)");
        match text.split_once("..") {
            Some((a, b)) => {
                let (min_ms, max_ms) = (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
                if min_ms > max_ms {
                    return Err(bad());
                }
                Ok(Latency { min_ms, max_ms })
            }
            None => {
                let ms = text.trim().parse().map_err(|_| bad())?;
                Ok(Latency { min_ms: ms, max_ms: ms })
            }
        }
    }
}

/// What to do to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Pass,
    ServerError,
    Throttle,
    Drop,
    Lose,
    Malformed,
    Missing,
    Cursor,
    Endless,
}

/// The faults of a running sandbox: the spec (replaceable through the admin API), and a lost
/// answer armed for a vendor's next write, after which that vendor's faults change.
#[derive(Debug, Default)]
pub struct Faults {
    state: std::sync::Mutex<FaultState>,
}

#[derive(Debug, Default)]
struct FaultState {
    spec: FaultSpec,
    /// Vendor -> the spec that applies once its next write was committed and its answer lost.
    lose_next_write: BTreeMap<Vendor, FaultSpec>,
}

impl Faults {
    pub fn new(spec: FaultSpec) -> Self {
        Faults { state: std::sync::Mutex::new(FaultState { spec, lose_next_write: BTreeMap::new() }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FaultState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn spec(&self) -> FaultSpec {
        self.lock().spec.clone()
    }

    pub fn set(&self, spec: FaultSpec) {
        self.lock().spec = spec;
    }

    /// Lose the answer of `vendor`'s next write (after committing it); from then on `then`
    /// replaces the spec. Deterministic, where a rate is not: "the create's answer is lost, and
    /// the lookup after it reads an unreadable answer".
    pub fn lose_next_write(&self, vendor: Vendor, then: FaultSpec) {
        self.lock().lose_next_write.insert(vendor, then);
    }

    /// Whether this write is the one to lose (and if so, switch to the armed spec).
    pub fn take_write(&self, vendor: Vendor) -> bool {
        let mut state = self.lock();
        match state.lose_next_write.remove(&vendor) {
            Some(then) => {
                state.spec = then;
                true
            }
            None => false,
        }
    }
}

/// A seeded source of fault decisions for one vendor.
pub struct Dice {
    rng: std::sync::Mutex<rand::rngs::StdRng>,
    vendor: Vendor,
    pub faults: std::sync::Arc<Faults>,
    latency: Latency,
    /// Numbers the cursors `endless` makes up.
    pub counter: std::sync::atomic::AtomicU64,
}

impl Dice {
    pub fn new(seed: u64, vendor: Vendor, spec: &FaultSpec, latency: Latency) -> Self {
        Dice::shared(seed, vendor, std::sync::Arc::new(Faults::new(spec.clone())), latency)
    }

    /// Dice reading faults that may change while the sandbox runs.
    pub fn shared(seed: u64, vendor: Vendor, faults: std::sync::Arc<Faults>, latency: Latency) -> Self {
        let seed = seed ^ (vendor as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Dice {
            rng: std::sync::Mutex::new(rand::rngs::StdRng::seed_from_u64(seed)),
            vendor,
            faults,
            latency,
            counter: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn roll(&self) -> (Duration, Decision) {
        let rates = self.faults.spec().for_vendor(self.vendor);
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        let delay =
            if self.latency.max_ms > 0 { rng.random_range(self.latency.min_ms..=self.latency.max_ms) } else { 0 };
        let x: f64 = rng.random();
        let mut below = 0.0;
        let mut decision = Decision::Pass;
        for (rate, d) in rates.ladder() {
            below += rate;
            if x < below {
                decision = d;
                break;
            }
        }
        (Duration::from_millis(delay), decision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_global_and_vendor_rates() {
        let s = FaultSpec::parse("5xx=0.1,429=0.05,acronis:lose=0.5").unwrap();
        assert_eq!(s.all.server_error, 0.1);
        assert_eq!(s.for_vendor(Vendor::Acronis).lose, 0.5);
        assert_eq!(s.for_vendor(Vendor::Acronis).server_error, 0.1, "vendor rates start from the global ones");
        assert_eq!(s.for_vendor(Vendor::Veeam).lose, 0.0);
        assert!(FaultSpec::parse("5xx=2").is_err());
        assert!(FaultSpec::parse("boom=0.1").is_err());
        let s = FaultSpec::parse("acronis:cursor=1,veeam:endless=0.5,missing=0.25,malformed=0.1").unwrap();
        assert_eq!(s.for_vendor(Vendor::Acronis).cursor, 1.0);
        assert_eq!(s.for_vendor(Vendor::Veeam).endless, 0.5);
        assert_eq!(s.for_vendor(Vendor::Datto).missing, 0.25);
        assert_eq!(s.for_vendor(Vendor::Datto).malformed, 0.1);
        assert_eq!(Latency::parse("20..80").unwrap(), Latency { min_ms: 20, max_ms: 80 });
    }

    #[test]
    fn the_same_seed_gives_the_same_faults() {
        let spec = FaultSpec::parse("5xx=0.3,lose=0.3").unwrap();
        let a: Vec<_> = (0..50)
            .map({
                let d = Dice::new(7, Vendor::Datto, &spec, Latency::default());
                move |_| d.roll().1
            })
            .collect();
        let b: Vec<_> = (0..50)
            .map({
                let d = Dice::new(7, Vendor::Datto, &spec, Latency::default());
                move |_| d.roll().1
            })
            .collect();
        assert_eq!(a, b);
        assert!(a.contains(&Decision::Lose) && a.contains(&Decision::ServerError) && a.contains(&Decision::Pass));
    }

    #[test]
    fn answer_faults_are_rolled_per_vendor_and_a_lost_write_switches_the_spec() {
        let spec = FaultSpec::parse("acronis:malformed=1,veeam:endless=1").unwrap();
        let faults = std::sync::Arc::new(Faults::new(spec));
        let acronis = Dice::shared(3, Vendor::Acronis, faults.clone(), Latency::default());
        let veeam = Dice::shared(3, Vendor::Veeam, faults.clone(), Latency::default());
        let datto = Dice::shared(3, Vendor::Datto, faults.clone(), Latency::default());
        assert_eq!(acronis.roll().1, Decision::Malformed);
        assert_eq!(veeam.roll().1, Decision::Endless);
        assert_eq!(datto.roll().1, Decision::Pass);

        faults.set(FaultSpec::default());
        assert_eq!(acronis.roll().1, Decision::Pass, "a new spec applies to the next request");
        faults.lose_next_write(Vendor::Acronis, FaultSpec::parse("acronis:missing=1").unwrap());
        assert!(!faults.take_write(Vendor::Veeam));
        assert_eq!(acronis.roll().1, Decision::Pass, "armed, not yet taken");
        assert!(faults.take_write(Vendor::Acronis));
        assert!(!faults.take_write(Vendor::Acronis), "only the next write");
        assert_eq!(acronis.roll().1, Decision::Missing);
    }
}
