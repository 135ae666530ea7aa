pub mod cli;
pub mod engine;
pub mod manifest;
pub mod model;
pub mod plan;
pub mod provider;
pub mod secrets;
pub mod state;
