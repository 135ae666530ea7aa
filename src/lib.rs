pub mod cli;
pub mod manifest;
pub mod model;
