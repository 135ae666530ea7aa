//! Notifications: what a person should hear about (a new portal task, a failure, drift found,
//! a wait past its usual time) POSTed as JSON to the configured webhooks, in the background.
//!
//! Each event is JSON with a `text` field, which is what Slack and Microsoft Teams incoming
//! webhooks display, and the structured fields beside it for anything else (a PSA, a chat bot).
//! Delivery is retried (3 attempts, 1 s then 4 s apart, 10 s timeout each) and never blocks a
//! pass: events queue (up to 1,000; past that they are dropped and counted in the log). The
//! webhook URLs are secrets (a Slack webhook URL is a credential): they come from references
//! and are never printed; a failed delivery names the webhook by its reference. Events carry
//! what plans carry, which is never a secret.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use super::OwnerReport;
use crate::model::ManifestRef;

/// One thing to tell people about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// `portal-task`, `failure`, `drift`, `overdue`.
    pub event: &'static str,
    /// `Customer/acme`.
    pub owner: String,
    /// What it is about and what happened, in words.
    pub message: String,
    /// RFC 3339.
    pub at: String,
    /// The one-line form chat webhooks show (Slack, Teams).
    pub text: String,
}

impl Event {
    pub fn new(event: &'static str, owner: &ManifestRef, message: String) -> Event {
        let word = match event {
            "portal-task" => "portal task to do",
            "failure" => "failed",
            "drift" => "drift at the vendor",
            "overdue" => "waiting longer than usual",
            other => other,
        };
        let text = format!("tenantry: {owner}: {word}: {message}");
        Event { event, owner: owner.to_string(), message, at: jiff::Timestamp::now().to_string(), text }
    }
}

/// What is new in `now` against `before` (the owner's previous pass): failures, drift and
/// overdue waits not reported last time. An owner seen for the first time reports everything.
pub fn changes(owner: &ManifestRef, before: Option<&OwnerReport>, now: &OwnerReport) -> Vec<Event> {
    let empty = OwnerReport::default();
    let before = before.unwrap_or(&empty);
    let new = |was: &[String], is: &[String], event: &'static str| -> Vec<Event> {
        let was: BTreeSet<&String> = was.iter().collect();
        is.iter().filter(|m| !was.contains(m)).map(|m| Event::new(event, owner, m.clone())).collect()
    };
    let mut out = new(&before.failed, &now.failed, "failure");
    out.extend(new(&before.drifted, &now.drifted, "drift"));
    out.extend(new(&before.overdue, &now.overdue, "overdue"));
    out
}

/// Delivers events to the webhooks in the background.
pub struct Notifier {
    queue: Option<tokio::sync::mpsc::Sender<Event>>,
}

/// A webhook: its URL (a secret) and the reference it came from (how it is named in logs).
pub struct Hook {
    pub url: SecretString,
    pub reference: String,
}

impl Notifier {
    /// No webhook: events go nowhere.
    pub fn none() -> Notifier {
        Notifier { queue: None }
    }

    pub fn start(hooks: Vec<Hook>) -> Notifier {
        if hooks.is_empty() {
            return Notifier::none();
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Event>(1000);
        let client = crate::provider::http::client_builder().timeout(Duration::from_secs(10)).build();
        let client = match client {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("notifications are off: cannot build an HTTP client: {e}");
                return Notifier::none();
            }
        };
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                for hook in &hooks {
                    deliver(&client, hook, &event).await;
                }
            }
        });
        Notifier { queue: Some(tx) }
    }

    /// Queue `event`; never waits.
    pub fn send(&self, event: Event) {
        let Some(q) = &self.queue else { return };
        if let Err(e) = q.try_send(event) {
            tracing::warn!("a notification was dropped ({e}): the webhooks are not keeping up");
        }
    }
}

async fn deliver(client: &reqwest::Client, hook: &Hook, event: &Event) {
    let mut wait = Duration::from_secs(1);
    for attempt in 1..=3 {
        let sent = client.post(hook.url.expose_secret()).json(event).send().await;
        let why = match sent {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => format!("HTTP {}", r.status().as_u16()),
            // Without the URL: reqwest names it in its errors.
            Err(e) => {
                if e.is_timeout() {
                    "timed out".to_string()
                } else if e.is_connect() {
                    "could not connect".to_string()
                } else {
                    "the request failed".to_string()
                }
            }
        };
        if attempt == 3 {
            tracing::warn!(
                "notification webhook {} refused a {} event 3 times ({why}); dropped",
                hook.reference,
                event.event
            );
            return;
        }
        tokio::time::sleep(wait).await;
        wait *= 4;
    }
}

/// Portal tasks open now that were not open before: one event each, with where and what.
pub fn new_tasks(before: &BTreeSet<String>, tasks: &[crate::core::TaskRecord]) -> Vec<Event> {
    tasks
        .iter()
        .filter(|t| t.is_open() && !before.contains(&t.id))
        .map(|t| {
            Event::new(
                "portal-task",
                &t.key.owner,
                format!(
                    "{} {} ({}): {} (`tenantry tasks show {}` has every value)",
                    t.id, t.title, t.vendor, t.page, t.id
                ),
            )
        })
        .collect()
}

/// The open tasks' ids.
pub fn open_ids(tasks: &[crate::core::TaskRecord]) -> BTreeSet<String> {
    tasks.iter().filter(|t| t.is_open()).map(|t| t.id.clone()).collect()
}

/// Events from a pass: what is new per owner against the last reports.
pub fn from_pass(last: &BTreeMap<ManifestRef, OwnerReport>, pass: &super::PassReport) -> Vec<Event> {
    pass.owners.iter().flat_map(|(o, r)| changes(o, last.get(o), r)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_is_new_since_the_last_pass_is_told() {
        let acme = ManifestRef::customer("acme");
        let first = OwnerReport { failed: vec!["veeam company: refused".into()], ..Default::default() };
        let events = changes(&acme, None, &first);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event, "failure");
        assert_eq!(events[0].text, "tenantry: Customer/acme: failed: veeam company: refused");
        // The same failure again: nothing new. A drift besides: one event.
        let second = OwnerReport { drifted: vec!["velocloud customer: domain".into()], ..first.clone() };
        let events = changes(&acme, Some(&first), &second);
        assert_eq!(events.iter().map(|e| e.event).collect::<Vec<_>>(), ["drift"]);
        // Converged: nothing to tell.
        assert!(changes(&acme, Some(&second), &OwnerReport::default()).is_empty());
    }
}
