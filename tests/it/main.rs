//! tenantry's integration tests: one binary, one module per area.

mod apply;
#[path = "../../examples/common/mod.rs"]
mod common;
mod contract;
mod e2e;
mod layers;
mod manifests;
mod planner;
mod schemas;
mod specs;
mod support;
mod unreadable;
