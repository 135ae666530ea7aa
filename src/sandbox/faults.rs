//! Fault injection: seeded, per vendor. Latency (fixed or a range), and rates of 5xx, 429,
//! dropped connections, and "commit, then lose the response".
//!
//! Spec syntax (`--faults`): comma-separated `kind=rate` pairs applying to every vendor,
//! optionally prefixed by a vendor: `5xx=0.05,429=0.02,drop=0.01,lose=0.05` or
//! `acronis:lose=0.2,veeam:5xx=0.1`. Latency (`--latency`): `50` (ms) or `20..80`.

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
}

impl Rates {
    fn any(&self) -> bool {
        self.server_error + self.throttle + self.drop + self.lose > 0.0
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
                other => return Err(format!("unknown fault `{other}`; use 5xx, 429, drop or lose")),
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
}

/// A seeded source of fault decisions for one vendor.
pub struct Dice {
    rng: std::sync::Mutex<rand::rngs::StdRng>,
    rates: Rates,
    latency: Latency,
}

impl Dice {
    pub fn new(seed: u64, vendor: Vendor, spec: &FaultSpec, latency: Latency) -> Self {
        let seed = seed ^ (vendor as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Dice {
            rng: std::sync::Mutex::new(rand::rngs::StdRng::seed_from_u64(seed)),
            rates: spec.for_vendor(vendor),
            latency,
        }
    }

    pub fn roll(&self) -> (Duration, Decision) {
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        let delay =
            if self.latency.max_ms > 0 { rng.random_range(self.latency.min_ms..=self.latency.max_ms) } else { 0 };
        let x: f64 = rng.random();
        let r = self.rates;
        let decision = if x < r.server_error {
            Decision::ServerError
        } else if x < r.server_error + r.throttle {
            Decision::Throttle
        } else if x < r.server_error + r.throttle + r.drop {
            Decision::Drop
        } else if x < r.server_error + r.throttle + r.drop + r.lose {
            Decision::Lose
        } else {
            Decision::Pass
        };
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
}
