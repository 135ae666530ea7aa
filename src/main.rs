//! Thin entry point: everything happens in `tenantry::cli`.

fn main() -> std::process::ExitCode {
    // Rust ignores SIGPIPE, so writing to a closed pipe (`tenantry plan --format json | head`)
    // makes println! panic. Restore the default, as other Unix tools have it: the process ends
    // quietly when its reader goes away. Nothing is lost by ending there: every vendor step is
    // recorded as an intent before it is sent, and the next run picks it up.
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is always valid.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    tenantry::cli::main()
}
