//! tenantry: customer onboarding as code for managed service providers.
//!
//! Manifests (YAML in git) declare customers, resellers and their vendor services; tenantry
//! observes the vendors, plans the difference and applies it idempotently. The loop, in the
//! order data flows:
//!
//! | module | what it owns |
//! |---|---|
//! | [`model`] | the validated manifest model ([`model::DesiredState`]), the value types manifests name, and `tenantry.yaml` (connections, state, policies) |
//! | [`core`] | the vocabulary every layer shares: object keys, desired and observed objects with their fields and update rules, changes, actions, the pure vendor contract [`core::VendorModel`], the records the state store keeps, times, secret references and fingerprints |
//! | [`manifest`] | loading YAML with spans, one-pass validation with file/line/column diagnostics, JSON Schemas |
//! | [`secrets`] | resolving `{env}` / `{file}` references at apply time into `SecretString`s |
//! | [`state`] | the state store trait and its SQLite implementation: bindings, intents, portal tasks, locks per owner (which fence writes), history |
//! | [`plan`] | the pure planner (desired x observed x bindings -> [`plan::Plan`]) and its text / JSON / Markdown renderers |
//! | [`provider`] | the vendors: their models (manifest -> desired objects, vendor rules), [`provider::VendorReader`] (bulk observe, lookup) and [`provider::VendorWriter`] (execute one action), the six HTTP clients, the shared retry / rate-limit layer, and an in-memory vendor for tests |
//! | [`sandbox`] | simulators of the six vendor APIs and their portals, a simulated operator and customers, fault injection |
//! | [`engine`] | wiring: connect the vendors, desire, observe concurrently, plan |
//! | [`apply`] | the executor: dependency order, per-vendor concurrency, crash-safe creates, portal-task delivery, rounds that follow what the vendors complete |
//! | [`controller`] | reconcile passes over the owners that are due, each owner's next look (resync, poll, backoff), drift held back or corrected by policy, metrics |
//! | [`cli`] | the `tenantry` commands |
//!
//! **Layers.** Imports between these modules point one way, down this order (a test,
//! `tests/it/layers.rs`, fails on any other import, and on a module not placed in it):
//!
//! ```text
//! cli
//!  -> controller
//!  -> apply
//!  -> engine
//!  -> provider, sandbox
//!  -> secrets, manifest, state, plan      (none of these imports another)
//!  -> core
//!  -> model
//! ```
//!
//! So the planner and the state store speak only the [`core`] vocabulary and never see a vendor
//! client, and a vendor never sees the planner: it receives a [`core::Action`] and returns what
//! it did.
//!
//! Invariants the code keeps (and the tests check):
//! - **Planning is pure.** [`plan::plan`] does no I/O and reads no clock; the same inputs give
//!   the same plan byte for byte. Apply decides nothing the plan did not decide.
//! - **Never create blindly.** Every create looks the object up first, records an intent before
//!   the request, and after a lost answer or a crash looks it up again: found is bound, absent is
//!   created again. Killing tenantry at any point duplicates nothing.
//! - **An unreadable answer is never "gone".** Vendor answers are decoded into typed wire
//!   structs and paged listings are guarded (repeated cursor, totals, page cap); an answer that
//!   does not read is an `Unreadable` error that makes its vendor unavailable for the run (as
//!   does a panicking observer), and after a create it is an unknown outcome, looked up first.
//! - **Bindings are identity.** A manifest object is bound to one vendor id; a vendor object with
//!   the same natural key but no binding and no owner marker is a conflict, never taken over.
//! - **Secrets are references.** Plans, plan files, state, history, logs and errors hold only
//!   `env:NAME` / `file:PATH`; values exist in memory as `SecretString` while a request is built.
//! - **Destruction is opt-in.** Deletes need prune and ownership; one-way changes need
//!   `--allow-irreversible`.
//! - **Waits are honest.** What completes at the vendor on its own is followed; what waits for
//!   a person is reported with since-when and what to do, and portal tasks carry every value.

pub mod apply;
pub mod cli;
pub mod controller;
pub mod core;
pub mod engine;
pub mod manifest;
pub mod model;
pub mod plan;
pub mod provider;
pub mod sandbox;
pub mod secrets;
pub mod state;
