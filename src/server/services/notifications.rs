//! The caller's notifications: read, save, test a target, list deliveries.

use sgp_import_core::auth::Principal;
use sgp_import_core::import::FieldError;
use sgp_import_core::model::{
    Delivery, JobPage, NotificationEvent, NotificationInput, NotificationSettings,
};
use uuid::Uuid;

use super::{tenant_of, ServiceError};
use crate::server::state::AppState;

/// Event names as a target lists them, each checked: one that is unknown
/// (or the test, which every target may receive anyway) is an error on
/// `field` naming it and the names allowed, never dropped in silence.
pub fn events<'a>(
    names: impl IntoIterator<Item = &'a str>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Vec<NotificationEvent> {
    names
        .into_iter()
        .map(str::trim)
        .filter_map(|n| {
            let event = NotificationEvent::from_name(n)
                .filter(|e| NotificationEvent::SUBSCRIBABLE.contains(e));
            if event.is_none() {
                errors.push(FieldError::new(
                    field,
                    format!(
                        "Evento desconhecido: {n:?}. Use estes: {}.",
                        NotificationEvent::SUBSCRIBABLE.map(|e| e.name()).join(", ")
                    ),
                ));
            }
            event
        })
        .collect()
}

pub async fn get(
    state: &AppState,
    caller: &Principal,
) -> Result<NotificationSettings, ServiceError> {
    let tenant = tenant_of(caller)?;
    Ok(state.notifications.get(tenant).await?)
}

pub async fn save(
    state: &AppState,
    caller: &Principal,
    input: NotificationInput,
) -> Result<NotificationSettings, ServiceError> {
    let tenant = tenant_of(caller)?;
    let saved = state.notifications.save(tenant, input).await?;
    tracing::info!(
        tenant_id = %tenant,
        user_id = %caller.user.id,
        targets = saved.targets.len(),
        new_secret = saved.new_secret.is_some(),
        "notifications saved"
    );
    Ok(saved)
}

pub async fn test(
    state: &AppState,
    caller: &Principal,
    target: Uuid,
) -> Result<Delivery, ServiceError> {
    let tenant = tenant_of(caller)?;
    let delivery = state.notifications.send_test(tenant, target).await?;
    tracing::info!(tenant_id = %tenant, job_id = %delivery.job.id, "test notification queued");
    Ok(delivery)
}

pub async fn deliveries(
    state: &AppState,
    caller: &Principal,
    limit: u32,
    offset: u64,
) -> Result<(Vec<Delivery>, JobPage), ServiceError> {
    let tenant = tenant_of(caller)?;
    Ok(state
        .notifications
        .deliveries(tenant, limit, offset)
        .await?)
}
