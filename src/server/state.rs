use std::sync::Arc;

use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use sgp_import_core::auth::AuthService;
use sgp_import_core::config::Settings;
use sgp_import_core::import::{ImportService, Integrations};
use sgp_import_core::notify::NotificationService;
use sgp_import_core::schedule::ScheduleService;
use sgp_import_core::store::Store;

/// What every handler and server function can reach. leptos_axum provides
/// it as context to pages and server functions.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub store: Arc<dyn Store>,
    pub settings: Arc<Settings>,
    pub integrations: Arc<Integrations>,
    pub imports: Arc<ImportService>,
    pub auth: Arc<AuthService>,
    pub schedules: Arc<ScheduleService>,
    pub notifications: Arc<NotificationService>,
    /// Live progress streams open per account.
    pub streams: super::streams::StreamSlots,
    /// Costly lists running per provider.
    pub reads: super::reads::ProviderReads,
}
