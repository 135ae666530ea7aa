//! When each owner is looked at next: its own due time, so a customer waiting days for an
//! authorization is not looked at every resync, and one that fails backs off alone.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use super::OwnerReport;
use crate::model::ManifestRef;

/// The intervals a schedule works with (the `serve` flags).
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// A converged owner is looked at again after this (plus or minus `jitter`).
    pub resync: Duration,
    /// While a vendor completes something on its own (a Pulse mapping, an operator
    /// transaction): minutes at most.
    pub poll: Duration,
    /// While a person must act (a customer's consent, an operator's portal task): hours or days.
    pub await_person: Duration,
    /// The first wait after a failure; it doubles with each failure in a row, up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// Each wait is spread by up to this fraction either way, so owners that became due together
    /// (everyone at start) do not stay in lockstep.
    pub jitter: f64,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            resync: Duration::from_secs(600),
            poll: Duration::from_secs(30),
            await_person: Duration::from_secs(300),
            backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(600),
            jitter: 0.1,
        }
    }
}

/// Why an owner is due when it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    Start,
    Changed,
    Resync,
    Poll,
    Await,
    Backoff,
    Locked,
    Hook,
}

impl Why {
    pub fn word(self) -> &'static str {
        match self {
            Why::Start => "start",
            Why::Changed => "manifest change",
            Why::Resync => "resync",
            Why::Poll => "vendor processing",
            Why::Await => "waiting for a person",
            Why::Backoff => "retry after failure",
            Why::Locked => "was locked by another run",
            Why::Hook => "webhook",
        }
    }
}

#[derive(Debug, Default)]
pub struct Schedule {
    due: BTreeMap<ManifestRef, (Instant, Why)>,
    /// Failures in a row, per owner.
    failures: BTreeMap<ManifestRef, u32>,
    /// The next resync, shared by every converged owner.
    tick: Option<Instant>,
}

impl Schedule {
    /// Everyone in `owners` due at once, for `why`.
    pub fn now(&mut self, owners: impl IntoIterator<Item = ManifestRef>, why: Why) {
        let at = Instant::now();
        for o in owners {
            self.due.insert(o, (at, why));
        }
    }

    /// Forget an owner the manifests no longer declare.
    pub fn remove(&mut self, owner: &ManifestRef) {
        self.due.remove(owner);
        self.failures.remove(owner);
    }

    /// The earliest due time.
    pub fn next(&self) -> Option<Instant> {
        self.due.values().map(|(at, _)| *at).min()
    }

    /// Take the owners due by `now`, with why each is due.
    pub fn take_due(&mut self, now: Instant) -> BTreeMap<ManifestRef, Why> {
        let due: BTreeMap<ManifestRef, Why> =
            self.due.iter().filter(|(_, (at, _))| *at <= now).map(|(o, (_, w))| (o.clone(), *w)).collect();
        for o in due.keys() {
            self.due.remove(o);
        }
        due
    }

    /// Failures in a row for `owner`.
    pub fn failures(&self, owner: &ManifestRef) -> u32 {
        self.failures.get(owner).copied().unwrap_or(0)
    }

    /// After a pass: when `owner` is looked at next, from what the pass found. Returns the wait
    /// and why. An owner already due sooner (a change arrived during the pass) keeps that.
    ///
    /// Converged owners share one resync tick (jittered once per interval), whenever they
    /// converged: a resync is one pass over all of them, which reads the vendors' list pages
    /// once, however many owners it covers. An owner that converges between ticks joins the
    /// next one.
    pub fn after(&mut self, owner: &ManifestRef, report: &OwnerReport, timing: &Timing) -> (Duration, Why) {
        let (base, why) = if report.failed() {
            let n = self.failures.entry(owner.clone()).or_insert(0);
            *n = n.saturating_add(1);
            let doubled = timing.backoff.saturating_mul(1u32 << (*n - 1).min(20));
            (doubled.min(timing.max_backoff), Why::Backoff)
        } else {
            self.failures.remove(owner);
            if report.waiting_vendor > 0 {
                (timing.poll, Why::Poll)
            } else if report.waiting_person > 0 {
                (timing.await_person, Why::Await)
            } else {
                let now = Instant::now();
                let tick = match self.tick {
                    Some(t) if t > now => t,
                    _ => {
                        let t = now + jittered(timing.resync, timing.jitter);
                        self.tick = Some(t);
                        t
                    }
                };
                self.at_instant(owner, tick, Why::Resync);
                return (tick - now, Why::Resync);
            }
        };
        let wait = jittered(base, timing.jitter);
        self.at(owner, wait, why);
        (wait, why)
    }

    /// Look at `owner` again after `wait`, unless it is due sooner already.
    pub fn at(&mut self, owner: &ManifestRef, wait: Duration, why: Why) {
        self.at_instant(owner, Instant::now() + wait, why);
    }

    fn at_instant(&mut self, owner: &ManifestRef, at: Instant, why: Why) {
        match self.due.get(owner) {
            Some((sooner, _)) if *sooner <= at => {}
            _ => {
                self.due.insert(owner.clone(), (at, why));
            }
        }
    }

    /// The owners with a due time.
    pub fn owners(&self) -> BTreeSet<ManifestRef> {
        self.due.keys().cloned().collect()
    }
}

/// `base` spread by up to `fraction` either way.
pub fn jittered(base: Duration, fraction: f64) -> Duration {
    if fraction <= 0.0 || base.is_zero() {
        return base;
    }
    let f = rand::rng().random_range(-fraction..=fraction);
    base.mul_f64((1.0 + f).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failing() -> OwnerReport {
        OwnerReport { failed: vec!["x".into()], ..Default::default() }
    }

    #[tokio::test]
    async fn failures_back_off_doubling_to_a_cap_and_a_success_resets_them() {
        let timing = Timing { jitter: 0.0, ..Timing::default() };
        let mut s = Schedule::default();
        let acme = ManifestRef::customer("acme");
        let waits: Vec<Duration> = (0..8).map(|_| s.after(&acme, &failing(), &timing).0).collect();
        let secs: Vec<u64> = waits.iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [10, 20, 40, 80, 160, 320, 600, 600]);
        assert_eq!(s.failures(&acme), 8);
        let (wait, why) = s.after(&acme, &OwnerReport::default(), &timing);
        assert_eq!((wait, why), (timing.resync, Why::Resync));
        assert_eq!(s.failures(&acme), 0);
        // Another owner's failures are its own.
        let globex = ManifestRef::customer("globex");
        assert_eq!(s.after(&globex, &failing(), &timing).0, timing.backoff);
    }

    #[tokio::test]
    async fn what_waits_is_looked_at_on_its_own_schedule() {
        let timing = Timing { jitter: 0.0, ..Timing::default() };
        let mut s = Schedule::default();
        let acme = ManifestRef::customer("acme");
        let vendor = OwnerReport { waiting_vendor: 1, waiting_person: 1, ..Default::default() };
        assert_eq!(s.after(&acme, &vendor, &timing), (timing.poll, Why::Poll));
        let person = OwnerReport { waiting_person: 1, ..Default::default() };
        let mut s = Schedule::default();
        assert_eq!(s.after(&acme, &person, &timing), (timing.await_person, Why::Await));
        // A change due now is not pushed back by the pass that ran meanwhile.
        s.now([acme.clone()], Why::Changed);
        s.after(&acme, &OwnerReport::default(), &timing);
        assert_eq!(s.take_due(Instant::now()).get(&acme), Some(&Why::Changed));
    }

    #[tokio::test]
    async fn converged_owners_share_one_resync_whenever_they_converged() {
        let timing = Timing::default();
        let mut s = Schedule::default();
        let acme = ManifestRef::customer("acme");
        let globex = ManifestRef::customer("globex");
        let hooli = ManifestRef::customer("hooli");
        s.after(&acme, &OwnerReport::default(), &timing);
        // Globex failed first, then converged a moment later: it joins acme's resync.
        s.after(&globex, &failing(), &timing);
        s.due.remove(&globex); // its backoff passed, and it is looked at again
        s.after(&globex, &OwnerReport::default(), &timing);
        s.after(&hooli, &OwnerReport::default(), &timing);
        let at: BTreeSet<Instant> = s.due.values().map(|(at, _)| *at).collect();
        assert_eq!(at.len(), 1, "one resync for all: {:?}", s.due);
        let due = s.take_due(*at.first().unwrap());
        assert_eq!(due.len(), 3);
        assert!(due.values().all(|w| *w == Why::Resync));
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        for _ in 0..200 {
            let d = jittered(Duration::from_secs(100), 0.1);
            assert!(d >= Duration::from_secs(90) && d <= Duration::from_secs(110), "{d:?}");
        }
    }
}
