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
    /// Create an account: a provider admin (--provider) or a superadmin
    /// (--superadmin). The password comes from SGP_IMPORT_PASSWORD or, when
    /// that is unset, from the first line of standard input.
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// The provider's slug; created when it does not exist.
        #[arg(
            long,
            conflicts_with = "superadmin",
            required_unless_present = "superadmin"
        )]
        provider: Option<String>,
        /// The provider's display name, when it is created (default: the slug).
        #[arg(long, requires = "provider")]
        provider_name: Option<String>,
        #[arg(long)]
        superadmin: bool,
    },
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
            Command::CreateUser {
                email,
                name,
                provider,
                provider_name,
                superadmin: _,
            } => create_user(settings, &email, &name, provider, provider_name).await,
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

async fn create_user(
    settings: Settings,
    email: &str,
    name: &str,
    provider: Option<String>,
    provider_name: Option<String>,
) -> Result<(), StartupError> {
    use sgp_import_core::auth::{AuthService, NewAccount};
    use sgp_import_core::model::{Role, TenantSlug};

    let password = match std::env::var("SGP_IMPORT_PASSWORD") {
        Ok(p) => p,
        Err(_) => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(StartupError::Serve)?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    let clock = std::sync::Arc::new(SystemClock);
    let store = store::connect(&settings.database, clock.clone()).await?;
    store.migrate().await?;
    let tenant = match &provider {
        Some(slug) => {
            let slug = TenantSlug::parse(slug).map_err(|e| StartupError::Account(e.to_string()))?;
            let name = provider_name.unwrap_or_else(|| slug.to_string());
            Some(store.ensure_tenant(&slug, &name).await?)
        }
        None => None,
    };
    let auth = AuthService::new(store.clone(), clock, settings.auth.clone());
    let created = auth
        .create_user(NewAccount {
            email,
            name,
            password: &password,
            role: if tenant.is_some() {
                Role::Admin
            } else {
                Role::Superadmin
            },
            tenant: tenant.as_ref().map(|t| t.id),
        })
        .await;
    store.close().await;
    let user = created.map_err(|e| StartupError::Account(e.to_string()))?;
    match &tenant {
        Some(t) => println!(
            "created admin {} of provider {} ({})",
            user.email, t.slug, t.name
        ),
        None => println!("created superadmin {}", user.email),
    }
    Ok(())
}
