//! tenantry's integration tests: one binary, one module per area.

mod apply;
mod manifests;
mod planner;
mod schemas;
mod support;
