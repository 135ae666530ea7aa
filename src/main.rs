//! Thin entry point: everything happens in `tenantry::cli`.

fn main() -> std::process::ExitCode {
    tenantry::cli::main()
}
