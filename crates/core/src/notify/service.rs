//! A provider's notifications: read, check and save them (with the webhook
//! signing secret, shown once), send a test to one target, list deliveries.

use std::sync::Arc;

use uuid::Uuid;

use super::delivery::{self, DeliveryParams, NOTIFICATION_KIND, SECRET_FIELD};
use super::{payload, signature};
use crate::clock::Clock;
use crate::import::FieldError;
use crate::model::{
    Channel, Delivery, Email, JobPage, NotificationEvent, NotificationInput, NotificationSettings,
    Tenant, TenantId,
};
use crate::outbound::OutboundPolicy;
use crate::sealing::Sealer;
use crate::secret::Secret;
use crate::store::{Entity, JobFilter, NotificationRecord, Store, StoreError, TargetInput};

/// Targets of each channel a provider may have.
pub const MAX_TARGETS: usize = 10;
/// The longest silence alert: 30 days.
pub const MAX_NO_SUCCESS_HOURS: u32 = 720;
const MAX_URL_CHARS: usize = 500;
/// Deliveries a provider may have waiting before a test is refused.
pub const MAX_PENDING_DELIVERIES: u32 = 20;
/// Test messages one provider may ask for in an hour. Each goes to an
/// address its admin typed, e-mails through the operator's SMTP server:
/// without a rate, the button would relay whatever the pending cap lets
/// through, hour after hour.
pub const MAX_TESTS_AN_HOUR: usize = 30;
/// The newest deliveries read to count the hour's tests.
const RECENT_DELIVERIES_READ: u32 = 200;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("invalid notification settings")]
    Invalid(Vec<FieldError>),
    #[error("no such notification target")]
    UnknownTarget,
    /// Too many deliveries of this provider waiting to go out.
    #[error("too many pending deliveries ({0})")]
    TooManyPending(u32),
    /// [`MAX_TESTS_AN_HOUR`] tests asked for in the last hour; the next
    /// may go after `retry_after`.
    #[error("too many tests in the last hour")]
    TooManyTests { retry_after: std::time::Duration },
    /// No key to seal the webhook secret with.
    #[error("no secret key configured")]
    NoKey,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct NotificationService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    sealer: Option<Sealer>,
    policy: OutboundPolicy,
    email_available: bool,
    public_url: Option<url::Url>,
}

impl NotificationService {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        sealer: Option<Sealer>,
        policy: OutboundPolicy,
        email_available: bool,
        public_url: Option<url::Url>,
    ) -> Self {
        NotificationService {
            store,
            clock,
            sealer,
            policy,
            email_available,
            public_url,
        }
    }

    fn view(&self, record: NotificationRecord, new_secret: Option<String>) -> NotificationSettings {
        NotificationSettings {
            targets: record.targets,
            no_success_hours: record.no_success_hours,
            has_secret: record.secret_sealed.is_some(),
            new_secret,
            email_available: self.email_available,
        }
    }

    pub async fn get(&self, tenant: TenantId) -> Result<NotificationSettings, NotifyError> {
        Ok(self.view(self.store.notifications(tenant).await?, None))
    }

    fn check_url(&self, raw: &str, errors: &mut Vec<FieldError>) -> Option<String> {
        let raw = raw.trim();
        let problem = |m: String| FieldError::new("webhooks", m);
        if let Err(e) = crate::text::check("webhooks", "URL do webhook", raw, false) {
            errors.push(e);
            return None;
        }
        if raw.chars().count() > MAX_URL_CHARS {
            errors.push(problem(format!(
                "A URL do webhook pode ter até {MAX_URL_CHARS} caracteres."
            )));
            return None;
        }
        let url = match url::Url::parse(raw) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => u,
            _ => {
                errors.push(problem(format!(
                    "\"{raw}\" não é uma URL de webhook válida; use http:// ou https://."
                )));
                return None;
            }
        };
        if !url.username().is_empty() || url.password().is_some() {
            errors.push(problem(
                "Não inclua usuário e senha na URL do webhook: as entregas são assinadas com o \
                 segredo do provedor."
                    .to_owned(),
            ));
            return None;
        }
        if self.policy.check_url(&url).is_err() {
            errors.push(problem(format!(
                "{raw} é um endereço de rede privada ou reservada, que este servidor não acessa."
            )));
            return None;
        }
        Some(url.to_string())
    }

    fn check_events(
        &self,
        address: &str,
        events: &[NotificationEvent],
        field: &str,
        errors: &mut Vec<FieldError>,
    ) -> Vec<NotificationEvent> {
        let mut events: Vec<NotificationEvent> = events
            .iter()
            .copied()
            .filter(|e| NotificationEvent::SUBSCRIBABLE.contains(e))
            .collect();
        events.sort();
        events.dedup();
        if events.is_empty() {
            errors.push(FieldError::new(
                field,
                format!("Escolha ao menos um evento para {address}."),
            ));
        }
        events
    }

    /// Checks everything, then saves. A new signing secret is made for the
    /// first webhook, or when asked; the answer carries it that once.
    pub async fn save(
        &self,
        tenant: TenantId,
        input: NotificationInput,
    ) -> Result<NotificationSettings, NotifyError> {
        let mut errors = Vec::new();
        let mut targets: Vec<TargetInput> = Vec::new();
        if input.webhooks.len() > MAX_TARGETS {
            errors.push(FieldError::new(
                "webhooks",
                format!("Cadastre até {MAX_TARGETS} webhooks."),
            ));
        }
        if input.emails.len() > MAX_TARGETS {
            errors.push(FieldError::new(
                "emails",
                format!("Cadastre até {MAX_TARGETS} e-mails."),
            ));
        }
        if !errors.is_empty() {
            // nothing more is read of an oversized list
            return Err(NotifyError::Invalid(errors));
        }
        for (raw, events) in &input.webhooks {
            if let Some(url) = self.check_url(raw, &mut errors) {
                let events = self.check_events(&url, events, "webhooks", &mut errors);
                targets.push((Channel::Webhook, url, events));
            }
        }
        if !input.emails.is_empty() && !self.email_available {
            errors.push(FieldError::new(
                "emails",
                "O envio de e-mails não está configurado neste servidor: peça ao operador para \
                 definir SMTP_URL e SMTP_FROM.",
            ));
        }
        // the mailer's own reader too: an address it refuses (two dots in a
        // row) would pass `Email` and fail every delivery
        let mailable = |e: &Email| e.as_str().parse::<lettre::message::Mailbox>().is_ok();
        for (raw, events) in &input.emails {
            match Email::parse(raw).ok().filter(mailable).ok_or(()) {
                Ok(email) => {
                    let events = self.check_events(email.as_str(), events, "emails", &mut errors);
                    targets.push((Channel::Email, email.as_str().to_owned(), events));
                }
                Err(_) => errors.push(FieldError::new(
                    "emails",
                    format!("\"{}\" não é um endereço de e-mail válido.", raw.trim()),
                )),
            }
        }
        if let Some(h) = input.no_success_hours {
            if !(1..=MAX_NO_SUCCESS_HOURS).contains(&h) {
                errors.push(FieldError::new(
                    "sem_sucesso_horas",
                    format!("Informe de 1 a {MAX_NO_SUCCESS_HOURS} horas."),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(NotifyError::Invalid(errors));
        }
        // the same address twice is one target (the last events win)
        targets.reverse();
        let mut seen = std::collections::HashSet::new();
        targets.retain(|(c, a, _)| seen.insert((*c, a.clone())));
        targets.reverse();

        let current = self.store.notifications(tenant).await?;
        let has_webhook = targets.iter().any(|(c, _, _)| *c == Channel::Webhook);
        let new_secret = (input.rotate_secret || (has_webhook && current.secret_sealed.is_none()))
            .then(signature::new_secret);
        let sealed = match &new_secret {
            Some(secret) => Some(self.sealer.as_ref().ok_or(NotifyError::NoKey)?.seal(
                tenant,
                SECRET_FIELD,
                &Secret::new(secret.clone()),
            )),
            None => None,
        };
        let record = self
            .store
            .save_notifications(tenant, &targets, input.no_success_hours, sealed.as_deref())
            .await?;
        Ok(self.view(record, new_secret))
    }

    async fn tenant(&self, tenant: TenantId) -> Result<Tenant, NotifyError> {
        self.store
            .tenant(tenant)
            .await?
            .ok_or(NotifyError::Store(StoreError::NotFound(Entity::Tenant)))
    }

    /// Queues a test message to one target ("Enviar teste").
    pub async fn send_test(&self, tenant: TenantId, target: Uuid) -> Result<Delivery, NotifyError> {
        let record = self.store.notifications(tenant).await?;
        let target = record
            .targets
            .into_iter()
            .find(|t| t.id == target)
            .ok_or(NotifyError::UnknownTarget)?;
        self.check_test_rate(tenant).await?;
        let body = payload::test_body(&self.tenant(tenant).await?, self.public_url.as_ref());
        let params = DeliveryParams {
            target: target.id,
            channel: target.channel,
            address: target.address,
            event: NotificationEvent::Test,
            body,
        };
        let job = params.job(tenant);
        // tests on demand are the one delivery a provider can multiply
        let mut job = job;
        job.max_active = Some(MAX_PENDING_DELIVERIES);
        match self.store.enqueue(job).await {
            Err(StoreError::LimitReached(n)) => Err(NotifyError::TooManyPending(n)),
            other => Ok(Delivery {
                job: other?,
                channel: params.channel,
                address: params.address,
                event: params.event,
            }),
        }
    }

    /// Refuses a test when the provider asked for [`MAX_TESTS_AN_HOUR`] in
    /// the last hour. Read before the enqueue, not with it: requests racing
    /// past the count are still held by the pending cap, once.
    async fn check_test_rate(&self, tenant: TenantId) -> Result<(), NotifyError> {
        let now = self.clock.now();
        let hour = chrono::Duration::hours(1);
        let recent = self
            .delivery_jobs(tenant, RECENT_DELIVERIES_READ, 0)
            .await?;
        let mut tests: Vec<_> = recent
            .jobs
            .iter()
            .filter(|j| j.created_at > now - hour && delivery::is_test(&j.name))
            .map(|j| j.created_at)
            .collect();
        if tests.len() < MAX_TESTS_AN_HOUR {
            return Ok(());
        }
        // requests that raced past the count may have left more than the
        // cap: the next test fits once all but MAX - 1 left the hour
        tests.sort_unstable();
        let frees = tests[tests.len() - MAX_TESTS_AN_HOUR];
        Err(NotifyError::TooManyTests {
            retry_after: (frees + hour - now)
                .to_std()
                .unwrap_or_default()
                .max(std::time::Duration::from_secs(1)),
        })
    }

    /// The provider's deliveries, newest first.
    pub async fn deliveries(
        &self,
        tenant: TenantId,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<Delivery>, JobPage), NotifyError> {
        let page = self.delivery_jobs(tenant, limit, offset).await?;
        let mut deliveries = Vec::with_capacity(page.jobs.len());
        for job in &page.jobs {
            // the list has no parameters: read them from the job
            let details = self.store.job_details(tenant, job.id, 0).await?;
            if let Ok(p) = serde_json::from_value::<DeliveryParams>(details.params) {
                deliveries.push(Delivery {
                    job: job.clone(),
                    channel: p.channel,
                    address: p.address,
                    event: p.event,
                });
            }
        }
        Ok((deliveries, page))
    }

    /// A page of the provider's delivery jobs, newest first.
    async fn delivery_jobs(
        &self,
        tenant: TenantId,
        limit: u32,
        offset: u64,
    ) -> Result<JobPage, NotifyError> {
        let filter = JobFilter {
            statuses: None,
            origin: None,
            kind: Some(NOTIFICATION_KIND.to_owned()),
            limit,
            offset,
        };
        Ok(self.store.list_jobs(tenant, &filter).await?)
    }
}
