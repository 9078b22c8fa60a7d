#[cfg(feature = "ssr")]
fn main() -> std::process::ExitCode {
    sgp_import::server::cli::main()
}

#[cfg(not(feature = "ssr"))]
fn main() {
    // The browser build starts from `hydrate()` in lib.rs.
}
