//! The only reader of YAML: files -> spanned nodes -> structural check against the generated
//! schemas -> profile merging -> semantic validation -> [`crate::model::DesiredState`], or every
//! diagnostic found on the way.

pub mod diag;
pub mod load;
pub mod node;
pub mod raw;
pub mod schema;
pub mod structure;
pub mod validate;

pub use diag::{Diagnostic, Severity, SourceMap};
pub use load::{LoadError, Loaded, load_dir, load_files};
