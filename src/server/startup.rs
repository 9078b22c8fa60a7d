//! Building and running the web server. `Application::build` binds the port
//! (0 in tests) before anything is served, so callers know the address.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use leptos::prelude::LeptosOptions;
use leptos_axum::{generate_route_list, LeptosRoutes};
use sgp_import_core::clock::SystemClock;
use sgp_import_core::config::{ConfigError, Settings};
use sgp_import_core::model::TenantSlug;
use sgp_import_core::store::{self, Store, StoreError};
use tokio::net::TcpListener;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use super::health;
use super::state::AppState;
use crate::app::{shell, App};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("invalid Leptos settings ([package.metadata.leptos] or LEPTOS_* variables): {0}")]
    Leptos(String),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Telemetry(String),
    #[error("server stopped with an error: {0}")]
    Serve(std::io::Error),
}

/// Leptos' own options: from the `[package.metadata.leptos]` table of the
/// config file when it has one, else from `LEPTOS_*` variables (cargo-leptos
/// sets them), else defaults matching Cargo.toml. The address is always ours.
pub fn leptos_options(
    config_file: Option<&Path>,
    addr: SocketAddr,
) -> Result<LeptosOptions, StartupError> {
    use leptos::config::{get_config_from_env, get_config_from_str};
    let from_file = match config_file.map(std::fs::read_to_string) {
        Some(Ok(text)) if text.contains("[package.metadata.leptos]") => {
            Some(get_config_from_str(&text).map_err(|e| StartupError::Leptos(one_line(e)))?)
        }
        _ => None,
    };
    let mut options = match from_file {
        Some(options) => options,
        None if std::env::var_os("LEPTOS_OUTPUT_NAME").is_some() => {
            get_config_from_env()
                .map_err(|e| StartupError::Leptos(one_line(e)))?
                .leptos_options
        }
        None => LeptosOptions::builder()
            .output_name("sgp-import")
            .site_root("target/site")
            .site_pkg_dir("pkg")
            .build(),
    };
    options.site_addr = addr;
    Ok(options)
}

fn one_line(e: impl std::fmt::Display) -> String {
    e.to_string().replace('\n', " ")
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
}

impl Application {
    /// Connects and migrates the database, seeds demo data when asked, and
    /// binds the listening socket.
    pub async fn build(
        settings: Settings,
        leptos_options: LeptosOptions,
    ) -> Result<Self, StartupError> {
        let store = store::connect(&settings.database, Arc::new(SystemClock)).await?;
        store.migrate().await?;
        tracing::info!(
            database = %settings.database.url,
            backend = store.backend().name(),
            "database ready"
        );
        if settings.demo {
            seed_demo(store.as_ref()).await?;
        }
        let addr = settings.server.addr;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartupError::Bind { addr, source })?;
        let mut leptos_options = leptos_options;
        leptos_options.site_addr = listener.local_addr().unwrap_or(addr);
        let state = AppState {
            leptos_options,
            store,
            settings: Arc::new(settings),
        };
        Ok(Application {
            router: router(state.clone()),
            listener,
            state,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.state.leptos_options.site_addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves and runs background jobs until `shutdown` completes; then
    /// lets in-flight requests finish, gives running jobs their grace
    /// period (the rest are released for the next process), and closes the
    /// database pool.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        let executor = super::jobs::executor(
            self.state.store.clone(),
            Arc::new(SystemClock),
            &self.state.settings,
        )
        .start();
        tracing::info!(addr = %self.local_addr(), "listening on http://{}", self.local_addr());
        let served = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await;
        executor.shutdown().await;
        self.state.store.close().await;
        served.map_err(StartupError::Serve)
    }
}

/// The demo provider, so a newcomer sees something on first run.
async fn seed_demo(store: &dyn Store) -> Result<(), StoreError> {
    let slug = TenantSlug::parse("demo").expect("a valid literal slug");
    let tenant = store.ensure_tenant(&slug, "Provedor Demonstração").await?;
    tracing::info!(tenant_id = %tenant.id, slug = %tenant.slug, "demo provider ready");
    Ok(())
}

pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let options = state.leptos_options.clone();
    Router::new()
        .route("/healthz", get(health::healthz))
        .leptos_routes(&state, routes, move || shell(options.clone()))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(CompressionLayer::new())
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(
            |request: &axum::http::Request<axum::body::Body>| {
                let request_id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                tracing::info_span!(
                    "request",
                    method = %request.method(),
                    path = %request.uri().path(),
                    request_id,
                )
            },
        ))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("Ctrl-C received, shutting down"),
        _ = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
