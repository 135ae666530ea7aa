//! The controller's schedule: when each customer and reseller is reconciled next, and why.
//!
//! `tenantry serve` reconciles in passes over the owners that are due. After a pass, each owner
//! is given its next look from what the pass left for it, in the manner of kube-runtime's
//! `Action::requeue` and error policy:
//! - **failed** (an action failed, an object could not be read, a vendor could not be
//!   observed): again after a backoff that doubles with each failure in a row, with jitter,
//!   reset by a pass without failure;
//! - **waiting** (an await, an open portal task, a step that waits for another): again after
//!   the await interval, doubling with each look that finds it still waiting, so a customer
//!   who takes days to authorize is not looked at every few seconds;
//! - **done** (converged, drift reported, or blocked until a manifest changes): at the next
//!   resync.
//!
//! A manifest change or a hook makes an owner due at once; the resync, every interval with
//! jitter, makes everyone due. Pure: time is passed in, the jitter's randomness too.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::apply::{Outcomed, RunReport};
use crate::core::{ActionKind, ObjectKey};
use crate::model::ManifestRef;
use crate::plan::Plan;

/// How often and how patiently to look again.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Everyone is reconciled this often (with ±10% jitter).
    pub resync: Duration,
    /// The first retry after a failure; doubles per failure in a row.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// The first look again at something waiting; doubles per look that finds it waiting.
    pub await_interval: Duration,
    pub max_await_interval: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            resync: Duration::from_secs(600),
            backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(600),
            await_interval: Duration::from_secs(30),
            max_await_interval: Duration::from_secs(3600),
        }
    }
}

/// What a pass left for one owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Something failed; the first failure's message.
    Failed(String),
    /// Waiting for the vendor, a person or an earlier step.
    Waiting,
    /// The vendors hold what the manifests declare (or what differs was reported as drift, or
    /// waits for a change of the manifests).
    Done,
}

/// Why an owner is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    New,
    Changed,
    Resync,
    Retry,
    Look,
    Hook,
}

impl Why {
    pub fn word(self) -> &'static str {
        match self {
            Why::New => "new",
            Why::Changed => "changed",
            Why::Resync => "resync",
            Why::Retry => "retry after a failure",
            Why::Look => "look at what waits",
            Why::Hook => "hook",
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    due: Instant,
    why: Why,
    /// Failures in a row.
    failures: u32,
    /// Looks in a row that found it waiting.
    looks: u32,
}

/// Every owner's next look.
#[derive(Debug)]
pub struct Schedule {
    timing: Timing,
    entries: BTreeMap<ManifestRef, Entry>,
    next_resync: Instant,
}

impl Schedule {
    /// Everyone in `owners` due at `now`.
    pub fn new(timing: Timing, owners: impl IntoIterator<Item = ManifestRef>, now: Instant, jitter: f64) -> Self {
        let entries =
            owners.into_iter().map(|o| (o, Entry { due: now, why: Why::New, failures: 0, looks: 0 })).collect();
        Schedule { timing, entries, next_resync: now + spread(timing.resync, jitter) }
    }

    /// The owners of the manifests now: new ones are due at once, gone ones are dropped.
    pub fn set_owners(&mut self, owners: &BTreeSet<ManifestRef>, now: Instant) {
        self.entries.retain(|o, _| owners.contains(o));
        for o in owners {
            self.entries.entry(o.clone()).or_insert(Entry { due: now, why: Why::New, failures: 0, looks: 0 });
        }
    }

    /// Make `owner` due at once (a manifest change, a hook); what it waited for starts over.
    pub fn due_now(&mut self, owner: &ManifestRef, why: Why, now: Instant) {
        if let Some(e) = self.entries.get_mut(owner) {
            e.due = now;
            e.why = why;
            e.looks = 0;
        }
    }

    /// Everyone due at once.
    pub fn all_due(&mut self, why: Why, now: Instant) {
        let owners: Vec<ManifestRef> = self.entries.keys().cloned().collect();
        for o in owners {
            self.due_now(&o, why, now);
        }
    }

    /// The owners due at `now`, with why; a resync that is due makes everyone due first.
    pub fn take_due(&mut self, now: Instant, jitter: f64) -> BTreeMap<ManifestRef, Why> {
        if now >= self.next_resync {
            for e in self.entries.values_mut() {
                if e.due > now {
                    e.due = now;
                    e.why = Why::Resync;
                }
            }
            self.next_resync = now + spread(self.timing.resync, jitter);
        }
        self.entries.iter().filter(|(_, e)| e.due <= now).map(|(o, e)| (o.clone(), e.why)).collect()
    }

    /// When the next owner (or the resync) is due.
    pub fn next_due(&self) -> Instant {
        self.entries.values().map(|e| e.due).min().map_or(self.next_resync, |d| d.min(self.next_resync))
    }

    /// Record what a pass left for `owner`, finished at `now`, and schedule its next look.
    /// Returns how long until it.
    pub fn done(&mut self, owner: &ManifestRef, outcome: &Outcome, now: Instant, jitter: f64) -> Duration {
        let t = self.timing;
        let next_resync = self.next_resync;
        let Some(e) = self.entries.get_mut(owner) else { return Duration::ZERO };
        let (after, why) = match outcome {
            Outcome::Failed(_) => {
                e.failures = e.failures.saturating_add(1);
                (spread(doubled(t.backoff, e.failures - 1, t.max_backoff), jitter), Why::Retry)
            }
            Outcome::Waiting => {
                e.failures = 0;
                e.looks = e.looks.saturating_add(1);
                (spread(doubled(t.await_interval, e.looks - 1, t.max_await_interval), jitter), Why::Look)
            }
            Outcome::Done => {
                e.failures = 0;
                e.looks = 0;
                (next_resync.saturating_duration_since(now), Why::Resync)
            }
        };
        e.due = now + after;
        e.why = why;
        after
    }

    /// Failures in a row of `owner`.
    pub fn failures(&self, owner: &ManifestRef) -> u32 {
        self.entries.get(owner).map_or(0, |e| e.failures)
    }
}

/// `base` doubled `n` times, at most `max`.
fn doubled(base: Duration, n: u32, max: Duration) -> Duration {
    base.saturating_mul(2u32.saturating_pow(n.min(30))).min(max)
}

/// `d` spread by ±10%: `jitter` in [0, 1) picks where.
fn spread(d: Duration, jitter: f64) -> Duration {
    d.mul_f64(0.9 + 0.2 * jitter.clamp(0.0, 1.0))
}

/// What a pass (its rounds' reports and the plan of its last round) left for each owner in
/// `owners`. `held`: actions not executed because they were drift under the `report` policy.
pub fn outcomes(
    owners: &BTreeSet<ManifestRef>,
    reports: &[&RunReport],
    last: Option<&Plan>,
    refused: Option<&str>,
) -> BTreeMap<ManifestRef, Outcome> {
    let mut out: BTreeMap<ManifestRef, Outcome> = owners.iter().map(|o| (o.clone(), Outcome::Done)).collect();
    let mut set = |owner: &ManifestRef, o: Outcome| {
        if let Some(slot) = out.get_mut(owner) {
            let worse = match (&*slot, &o) {
                (Outcome::Failed(_), _) => false,
                (_, Outcome::Failed(_)) => true,
                (Outcome::Done, Outcome::Waiting) => true,
                _ => false,
            };
            if worse {
                *slot = o;
            }
        }
    };
    if let Some(why) = refused {
        for o in owners {
            set(o, Outcome::Failed(why.to_string()));
        }
    }
    for r in reports.iter().flat_map(|r| r.results.iter()) {
        if let Outcomed::Failed { message, .. } = &r.outcome {
            set(&r.key.owner, Outcome::Failed(format!("{} {}: {message}", r.key.vendor, r.title)));
        }
    }
    if let Some(plan) = last {
        for (vendor, why) in &plan.unavailable {
            for o in owners {
                set(o, Outcome::Failed(format!("{vendor} could not be observed: {why}")));
            }
        }
        for (id, why) in &plan.unreadable {
            if let Some(key) = ObjectKey::parse(id) {
                set(&key.owner, Outcome::Failed(format!("{} could not be read: {why}", key.id())));
            }
        }
        for a in &plan.actions {
            let waiting = a.kind == ActionKind::Await || a.is_deferred() || a.kind == ActionKind::PortalTask;
            if waiting || (a.is_executable() && a.blocked.is_none()) {
                set(&a.key.owner, Outcome::Waiting);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acme() -> ManifestRef {
        ManifestRef::customer("acme")
    }

    fn timing() -> Timing {
        Timing {
            resync: Duration::from_secs(100),
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(8),
            await_interval: Duration::from_secs(10),
            max_await_interval: Duration::from_secs(40),
        }
    }

    #[test]
    fn failures_back_off_doubling_to_the_cap_and_reset_on_success() {
        let t0 = Instant::now();
        let mut s = Schedule::new(timing(), [acme()], t0, 0.5);
        let failed = Outcome::Failed("x".into());
        let waits: Vec<u64> = (0..6).map(|_| s.done(&acme(), &failed, t0, 0.5).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 8, 8]);
        assert_eq!(s.failures(&acme()), 6);
        s.done(&acme(), &Outcome::Done, t0, 0.5);
        assert_eq!(s.failures(&acme()), 0);
        assert_eq!(s.done(&acme(), &failed, t0, 0.5).as_secs(), 1, "the backoff starts over after a success");
    }

    #[test]
    fn jitter_spreads_by_a_tenth_either_way() {
        let t0 = Instant::now();
        let mut s = Schedule::new(timing(), [acme()], t0, 0.0);
        let low = s.done(&acme(), &Outcome::Waiting, t0, 0.0);
        s.due_now(&acme(), Why::Changed, t0);
        let high = s.done(&acme(), &Outcome::Waiting, t0, 0.999);
        assert_eq!(low, Duration::from_secs(9));
        assert!(high > Duration::from_millis(10_990) && high <= Duration::from_secs(11), "{high:?}");
    }

    #[test]
    fn waiting_owners_are_looked_at_less_often_each_time() {
        let t0 = Instant::now();
        let mut s = Schedule::new(timing(), [acme()], t0, 0.5);
        let looks: Vec<u64> = (0..4).map(|_| s.done(&acme(), &Outcome::Waiting, t0, 0.5).as_secs()).collect();
        assert_eq!(looks, [10, 20, 40, 40]);
        s.due_now(&acme(), Why::Changed, t0);
        assert_eq!(s.done(&acme(), &Outcome::Waiting, t0, 0.5).as_secs(), 10, "a change starts the looks over");
    }

    #[test]
    fn done_owners_wait_for_the_resync_which_makes_everyone_due() {
        let t0 = Instant::now();
        let initech = ManifestRef::customer("initech");
        let mut s = Schedule::new(timing(), [acme(), initech.clone()], t0, 0.5);
        assert_eq!(s.take_due(t0, 0.5).len(), 2, "everyone is due at the start");
        s.done(&acme(), &Outcome::Done, t0, 0.5);
        s.done(&initech, &Outcome::Waiting, t0, 0.5);
        assert_eq!(s.next_due(), t0 + Duration::from_secs(10), "the waiting owner's look comes first");
        let due = s.take_due(t0 + Duration::from_secs(10), 0.5);
        assert_eq!(due.into_iter().collect::<Vec<_>>(), [(initech.clone(), Why::Look)]);
        s.done(&initech, &Outcome::Waiting, t0 + Duration::from_secs(10), 0.5);
        let due = s.take_due(t0 + Duration::from_secs(100), 0.5);
        assert_eq!(due.get(&acme()), Some(&Why::Resync));
        assert!(due.contains_key(&initech), "its own look (due at 30s) is taken with the resync");
    }

    #[test]
    fn owners_follow_the_manifests() {
        let t0 = Instant::now();
        let mut s = Schedule::new(timing(), [acme()], t0, 0.5);
        s.done(&acme(), &Outcome::Done, t0, 0.5);
        let hooli = ManifestRef::customer("hooli");
        s.set_owners(&BTreeSet::from([hooli.clone()]), t0);
        let due = s.take_due(t0, 0.5);
        assert_eq!(due.into_iter().collect::<Vec<_>>(), [(hooli, Why::New)]);
        assert_eq!(s.done(&acme(), &Outcome::Done, t0, 0.5), Duration::ZERO, "a removed owner is not scheduled");
    }
}
