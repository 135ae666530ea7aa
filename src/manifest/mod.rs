//! The only reader of YAML: files -> spanned nodes -> structural check against the generated
//! schemas -> profile merging -> semantic validation -> [`crate::model::DesiredState`], or every
//! diagnostic found on the way.

pub mod diag;
pub mod load;
pub mod node;
mod node_de;
pub mod raw;
pub mod schema;
pub mod structure;
pub mod validate;

pub use diag::{Diagnostic, Severity, SourceMap};
pub use load::{LoadError, Loaded, load_dir, load_files};

/// Map `f` over `items` on every available core, keeping order. Manifest loading is CPU-bound
/// and embarrassingly parallel per file and per customer; scoped threads need no extra crate.
pub(crate) fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(items.len()).max(1);
    if threads == 1 {
        return items.iter().map(&f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> =
            items.chunks(chunk).map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<R>>())).collect();
        // A panic in a worker is a bug; re-raise it rather than losing results silently.
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    })
}
