//! tenantry's integration tests: one binary, one module per area.

mod apply;
mod avepoint;
mod cli;
#[path = "../../examples/common/mod.rs"]
mod common;
mod contract;
mod coverage;
mod e2e;
mod google_seats;
mod layers;
mod locks;
mod manifests;
mod orphans;
mod parent;
mod planner;
mod rebuild;
mod schemas;
mod serve;
mod specs;
mod status;
mod support;
mod unreadable;
mod vdc;
mod velocloud;
mod watch;
