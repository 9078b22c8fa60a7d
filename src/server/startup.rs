//! Building and running the web server. `Application::build` binds the port
//! (0 in tests) before anything is served, so callers know the address.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use fake_sgp::{FakeConfig, FakeSgp};
use leptos::prelude::LeptosOptions;
use leptos_axum::{generate_route_list, LeptosRoutes};
use sgp_import_core::auth::{AccountError, AuthService, NewAccount};
use sgp_import_core::clock::SystemClock;
use sgp_import_core::config::{ConfigError, Settings};
use sgp_import_core::import::{
    ImportService, IntegrationInput, Integrations, SearchIndexer, SEARCH_INDEX_INTERVAL,
};
use sgp_import_core::model::{Role, TenantSlug};
use sgp_import_core::notify::{Announcer, Mailer, NotificationService};
use sgp_import_core::schedule::{ScheduleService, Scheduler};
use sgp_import_core::sealing::Sealer;
use sgp_import_core::store::{self, Store, StoreError};
use tokio::net::TcpListener;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use super::state::AppState;
use super::{auth, health, metrics, rest, security};
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
    #[error("{0}")]
    Demo(String),
    #[error(
        "no SECRET_KEY configured: outside demo mode the server needs one to encrypt SGP \
         credentials (generate one with `openssl rand -base64 32`)"
    )]
    NoSecretKey,
    #[error("{0}")]
    Account(String),
    #[error("cannot set up e-mail: {0}")]
    Mail(String),
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
    /// The embedded fake SGP of demo mode.
    demo_sgp: Option<FakeSgp>,
    /// The operator's SMTP server, when configured.
    mailer: Option<Arc<Mailer>>,
    sealer: Sealer,
}

impl Application {
    /// Connects and migrates the database, seeds demo data when asked, and
    /// binds the listening socket.
    pub async fn build(
        settings: Settings,
        leptos_options: LeptosOptions,
    ) -> Result<Self, StartupError> {
        let sealer = match (&settings.secret_key, settings.demo) {
            (Some(key), _) => key.clone(),
            // a key for this run only: the demo re-seeds its secrets at start
            (None, true) => {
                if settings.demo_by_default {
                    tracing::warn!(
                        "development build without SECRET_KEY: running the demo with a key made \
                         up for this run (set SECRET_KEY, or DEMO=false, to run for real)"
                    );
                }
                Sealer::from_base64(&Sealer::generate_key()).expect("a generated key is valid")
            }
            (None, false) => return Err(StartupError::NoSecretKey),
        };
        if settings.metrics_token.is_some() {
            metrics::install();
        }
        let store = store::connect(&settings.database, Arc::new(SystemClock)).await?;
        store.migrate().await?;
        tracing::info!(
            database = %settings.database.url,
            backend = store.backend().name(),
            "database ready"
        );
        let integrations = Arc::new(Integrations::new(store.clone(), Some(sealer.clone())));
        let mailer = match &settings.notify.smtp {
            Some(smtp) => Some(Arc::new(Mailer::new(smtp).map_err(StartupError::Mail)?)),
            None => None,
        };
        let clock: Arc<dyn sgp_import_core::clock::Clock> = Arc::new(SystemClock);
        let notifications = Arc::new(NotificationService::new(
            store.clone(),
            clock.clone(),
            Some(sealer.clone()),
            super::jobs::outbound_policy(&settings),
            mailer.is_some(),
            settings.server.public_url.clone(),
        ));
        let imports = Arc::new(
            ImportService::new(
                store.clone(),
                integrations.clone(),
                super::jobs::sgp_client_config(&settings),
            )
            .with_max_active_per_tenant(settings.import.max_active_per_tenant),
        );
        let auth = Arc::new(AuthService::new(
            store.clone(),
            clock.clone(),
            settings.auth.clone(),
        ));
        let schedules = Arc::new(ScheduleService::new(
            store.clone(),
            clock,
            chrono::Duration::from_std(settings.schedule.min_interval)
                .unwrap_or(chrono::Duration::minutes(15)),
        ));
        let demo_sgp = if settings.demo {
            Some(seed_demo(store.as_ref(), &integrations, &auth, &settings).await?)
        } else {
            None
        };
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
            integrations,
            imports,
            auth,
            schedules,
            notifications,
            streams: Default::default(),
            reads: Default::default(),
        };
        Ok(Application {
            router: router(state.clone()),
            listener,
            state,
            demo_sgp,
            mailer,
            sealer,
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
            self.state.integrations.clone(),
        )
        .start();
        let sweeper = tokio::spawn(sweep_sessions(self.state.auth.clone()));
        // deliveries get slots of their own: a slow webhook never holds
        // up an import
        let deliveries = super::jobs::delivery_executor(
            self.state.store.clone(),
            Arc::new(SystemClock),
            &self.state.settings,
            self.sealer.clone(),
            self.mailer.clone(),
        )
        .start();
        // every instance ticks; the database hands each slot, and each
        // announcement, to one of them
        let interval = self.state.settings.schedule.check_interval;
        let scheduler = tokio::spawn(
            Scheduler::new(self.state.store.clone(), Arc::new(SystemClock)).run(interval),
        );
        let announcer = tokio::spawn(
            Announcer::new(
                self.state.store.clone(),
                Arc::new(SystemClock),
                self.state.settings.server.public_url.clone(),
            )
            .run(interval),
        );
        let indexer =
            tokio::spawn(SearchIndexer::new(self.state.store.clone()).run(SEARCH_INDEX_INTERVAL));
        tracing::info!(addr = %self.local_addr(), "listening on http://{}", self.local_addr());
        let served = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        scheduler.abort();
        announcer.abort();
        indexer.abort();
        executor.shutdown().await;
        deliveries.shutdown().await;
        sweeper.abort();
        if let Some(fake) = self.demo_sgp {
            fake.stop().await;
        }
        self.state.store.close().await;
        served.map_err(StartupError::Serve)
    }
}

/// The demo provider and its SGP: an embedded fake SGP on a loopback port
/// with a few thousand customers and some latency, and the provider's
/// integration pointing at it, so a newcomer can import at once.
async fn seed_demo(
    store: &dyn Store,
    integrations: &Integrations,
    auth: &AuthService,
    settings: &Settings,
) -> Result<FakeSgp, StartupError> {
    let slug = TenantSlug::parse("demo").expect("a valid literal slug");
    let tenant = store.ensure_tenant(&slug, "Provedor Demonstração").await?;
    match auth
        .create_user(NewAccount {
            email: DEMO_EMAIL,
            name: "Admin Demonstração",
            password: DEMO_PASSWORD,
            role: Role::Admin,
            tenant: Some(tenant.id),
        })
        .await
    {
        Ok(_) | Err(AccountError::EmailTaken) => {}
        Err(e) => {
            return Err(StartupError::Demo(format!(
                "cannot create the demo admin: {e}"
            )))
        }
    }
    // the demo's login is public by design (README); it is not a secret
    tracing::info!(
        email = DEMO_EMAIL,
        password = DEMO_PASSWORD,
        "demo mode: log in as the demo provider's admin"
    );
    let mut config = FakeConfig::new(settings.demo_sgp.customers);
    config.latency = settings.demo_sgp.latency;
    let fake = FakeSgp::start(config)
        .await
        .map_err(|e| StartupError::Demo(format!("cannot start the demo SGP: {e}")))?;
    let creds = fake.config().credentials;
    integrations
        .save(
            tenant.id,
            &IntegrationInput::token(fake.url(), creds.app, creds.token),
        )
        .await
        .map_err(|e| StartupError::Demo(format!("cannot save the demo integration: {e}")))?;
    tracing::info!(
        tenant_id = %tenant.id,
        slug = %tenant.slug,
        sgp = %fake.url(),
        customers = settings.demo_sgp.customers,
        "demo provider ready, with an embedded fake SGP"
    );
    Ok(fake)
}

/// The demo provider's admin (demo mode only; printed at start).
pub const DEMO_EMAIL: &str = "admin@demo.local";
pub const DEMO_PASSWORD: &str = "demo-sgp-1234";

/// Removes dead sessions and old failed logins now and then.
async fn sweep_sessions(auth: Arc<AuthService>) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
    loop {
        every.tick().await;
        match auth.sweep().await {
            Ok(n) if n > 0 => tracing::info!(removed = n, "expired sessions removed"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "session sweep failed"),
        }
    }
}

pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let options = state.leptos_options.clone();
    let mut router = Router::new().route("/healthz", get(health::healthz));
    // not served at all without a token to protect it
    if state.settings.metrics_token.is_some() {
        router = router.route("/metrics", get(metrics::serve));
    }
    router
        .merge(rest::router())
        .leptos_routes(&state, routes, move || shell(options.clone()))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_session_for_pages,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::same_origin_writes,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::security_headers,
        ))
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
