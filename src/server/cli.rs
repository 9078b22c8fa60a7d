//! The command line: `serve` (the default) and `migrate`. Every failure ends
//! as one `error: ...` line on stderr and a non-zero exit code.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sgp_import_core::clock::SystemClock;
use sgp_import_core::config::Settings;
use sgp_import_core::store;

use super::startup::{leptos_options, shutdown_signal, Application, StartupError};
use super::telemetry;

const DEFAULT_CONFIG: &str = "Leptos.toml";

#[derive(Parser, Debug)]
#[command(
    name = "sgp-import",
    version,
    about = "Imports ISP customers from SGP as durable background jobs"
)]
struct Cli {
    /// Settings file; its app tables come first, [package.metadata.leptos] last.
    /// Default: Leptos.toml in the working directory, when present.
    #[arg(long, env = "APP_CONFIG", global = true)]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the web server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), StartupError> {
    let (path, required) = match &cli.config {
        Some(path) => (path.clone(), true),
        None => (PathBuf::from(DEFAULT_CONFIG), false),
    };
    let settings = Settings::load(Some(&path), required)?;
    let config_file = path.exists().then_some(path.as_path());
    telemetry::init(&settings.log).map_err(StartupError::Telemetry)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(StartupError::Serve)?;
    runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(settings, config_file).await,
            Command::Migrate => migrate(settings).await,
        }
    })
}

async fn serve(settings: Settings, config_file: Option<&Path>) -> Result<(), StartupError> {
    let options = leptos_options(config_file, settings.server.addr)?;
    let app = Application::build(settings, options).await?;
    app.run_until(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn migrate(settings: Settings) -> Result<(), StartupError> {
    let store = store::connect(&settings.database, std::sync::Arc::new(SystemClock)).await?;
    store.migrate().await?;
    store.close().await;
    tracing::info!(database = %settings.database.url, "migrations applied");
    Ok(())
}
