//! The state locks: one run at a time per owner (customer or reseller), or on everything.
//!
//! A run locks what it writes (a [`LockScope`]); runs whose scopes do not conflict run at once.
//! The holder's identity (user, host, pid, command, start) is recorded with an expiry that a
//! live run keeps pushing forward. A run that died (its process gone on this host, or its
//! expiry passed) is taken over with a warning, so a cancelled CI job never blocks everyone
//! (the lesson of hashicorp/terraform#28710); `tenantry force-unlock ID` remains for the rest.
//!
//! The run writes through [`LockGuard::store`], a handle fenced by its lock: once the lock is
//! removed or taken over, its next write fails in the same transaction that would have made it,
//! so a forced-out run never writes beside its successor.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::store::{Acquired, LockInfo, LockScope, StateError, StateStore, TakenOver};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("the state is locked by {holder}; waited {waited}s for it")]
    Held { holder: LockInfo, waited: u64 },
    #[error(transparent)]
    State(#[from] StateError),
}

impl LockError {
    pub fn hint(&self) -> Option<String> {
        match self {
            LockError::Held { holder, .. } => Some(format!(
                "wait for that run to finish (or pass --lock-timeout to wait longer); if it is gone, run `tenantry force-unlock {}`",
                holder.id
            )),
            LockError::State(_) => None,
        }
    }
}

/// This machine's name.
pub fn hostname() -> String {
    for path in ["/proc/sys/kernel/hostname", "/etc/hostname"] {
        if let Ok(s) = std::fs::read_to_string(path)
            && !s.trim().is_empty()
        {
            return s.trim().to_string();
        }
    }
    std::env::var("HOSTNAME").unwrap_or_else(|_| "unknown-host".into())
}

pub fn username() -> String {
    std::env::var("USER").or_else(|_| std::env::var("USERNAME")).unwrap_or_else(|_| "unknown-user".into())
}

/// Holds the lock; keeps it alive in the background; releases it when dropped.
pub struct LockGuard {
    store: Arc<dyn StateStore>,
    fenced: Arc<dyn StateStore>,
    info: LockInfo,
    lost: Arc<AtomicBool>,
    renewer: Option<tokio::task::JoinHandle<()>>,
}

impl LockGuard {
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// The store to write through while holding the lock: its writes fail once the lock is
    /// gone ([`StateError::LockLost`]).
    pub fn store(&self) -> Arc<dyn StateStore> {
        self.fenced.clone()
    }

    /// Whether the renewer found our lock removed (`force-unlock`) while we ran; the fence
    /// refuses writes at once, this only at the next renewal.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// The flag that turns true when the lock is lost, to stop a run with.
    pub fn lost_flag(&self) -> Arc<AtomicBool> {
        self.lost.clone()
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(r) = self.renewer.take() {
            r.abort();
        }
        if let Err(e) = self.store.release_lock(&self.info.id) {
            tracing::warn!("could not release the state lock {}: {e}", self.info.id);
        }
    }
}

/// Take a lock on `scope`, waiting up to `timeout` while a live run holds a conflicting one.
/// `waiting` is called once when the wait begins (to tell the user). Returns the guard and the
/// locks of dead runs that were taken over.
pub async fn acquire(
    store: Arc<dyn StateStore>,
    command: &str,
    scope: LockScope,
    timeout: Duration,
    ttl: Duration,
    waiting: impl Fn(&LockInfo),
) -> Result<(LockGuard, Vec<TakenOver>), LockError> {
    let started = std::time::Instant::now();
    let now = Timestamp::now();
    let info = LockInfo {
        id: uuid::Uuid::new_v4().simple().to_string()[..12].to_string(),
        owner: username(),
        host: hostname(),
        pid: std::process::id(),
        command: command.to_string(),
        started_at: now,
        expires_at: expiry(now, ttl),
        scope,
    };
    let mut told = false;
    let takeover = loop {
        let mut me = info.clone();
        me.expires_at = expiry(Timestamp::now(), ttl);
        match store.acquire_lock(&me, Timestamp::now())? {
            Acquired::Taken(taken) => break taken,
            Acquired::Held(holder) => {
                if started.elapsed() >= timeout {
                    return Err(LockError::Held { holder, waited: started.elapsed().as_secs() });
                }
                if !told {
                    waiting(&holder);
                    told = true;
                }
                tokio::time::sleep(Duration::from_millis(250).min(timeout.saturating_sub(started.elapsed()))).await;
            }
        }
    };
    let lost = Arc::new(AtomicBool::new(false));
    let renewer = {
        let store = store.clone();
        let id = info.id.clone();
        let lost = lost.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(ttl / 3).await;
                match store.renew_lock(&id, expiry(Timestamp::now(), ttl)) {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::error!("the state lock {id} was removed by someone else; stopping");
                        lost.store(true, Ordering::SeqCst);
                        return;
                    }
                    Err(e) => tracing::warn!("could not renew the state lock {id}: {e}"),
                }
            }
        })
    };
    let fenced = store.fenced(&info.id);
    Ok((LockGuard { store, fenced, info, lost, renewer: Some(renewer) }, takeover))
}

fn expiry(now: Timestamp, ttl: Duration) -> Timestamp {
    now.checked_add(SignedDuration::try_from(ttl).unwrap_or(SignedDuration::from_secs(60))).unwrap_or(now)
}
