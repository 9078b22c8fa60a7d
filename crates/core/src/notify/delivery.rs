//! The delivery job: one message to one target, with the engine's retries
//! (backoff), timeout and log. Webhooks go through the outbound policy
//! like every tenant-typed URL; e-mail through the operator's SMTP server.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::{header::ContentType, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use super::payload;
use super::signature::{self, DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use crate::clock::Clock;
use crate::config::SmtpSettings;
use crate::jobs::{JobContext, JobError, JobHandler, RetryPolicy};
use crate::model::{Channel, JobOrigin, NotificationEvent, TenantId};
use crate::outbound::{self, OutboundPolicy};
use crate::sealing::Sealer;
use crate::store::{NewJob, Store};

pub const NOTIFICATION_KIND: &str = "notification";
/// The sealed field the webhook secret is stored under.
pub const SECRET_FIELD: &str = "webhook_secret";
/// Attempts per delivery: about an hour and a half of retries.
const MAX_ATTEMPTS: u32 = 8;
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(15);

/// What one delivery sends where; stored as the job's parameters (a body
/// and an address, never a secret).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryParams {
    pub target: Uuid,
    pub channel: Channel,
    pub address: String,
    pub event: NotificationEvent,
    pub body: Value,
}

/// A delivery's job name: its event, and where it goes.
fn job_name(event: NotificationEvent, address: &str) -> String {
    format!("{} → {address}", event.label())
}

/// Whether a delivery job (by its name) carries a test message.
pub(crate) fn is_test(job_name: &str) -> bool {
    job_name
        .strip_prefix(NotificationEvent::Test.label())
        .is_some_and(|rest| rest.starts_with(" → "))
}

impl DeliveryParams {
    pub fn job(&self, tenant: TenantId) -> NewJob {
        let mut job = NewJob::new(
            tenant,
            NOTIFICATION_KIND,
            &job_name(self.event, &self.address),
            serde_json::to_value(self).unwrap_or_default(),
        )
        .with_origin(JobOrigin::Manual);
        job.max_attempts = MAX_ATTEMPTS;
        job
    }
}

/// The operator's SMTP server.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub fn new(settings: &SmtpSettings) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(settings.url.expose())
            .map_err(|e| format!("SMTP_URL: {e}"))?
            .timeout(Some(Duration::from_secs(30)))
            .build();
        let from = settings
            .from
            .parse()
            .map_err(|e| format!("SMTP_FROM: {e}"))?;
        Ok(Mailer { transport, from })
    }

    async fn send(&self, to: &str, subject: String, text: String) -> Result<(), JobError> {
        let to: Mailbox = to
            .parse()
            .map_err(|_| JobError::Fatal(format!("Endereço de e-mail inválido: {to}.")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(text)
            .map_err(|e| JobError::Fatal(format!("Não foi possível montar o e-mail: {e}.")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => {
                tracing::warn!(error = %e, "SMTP server refused a message");
                Err(JobError::Fatal(
                    "O servidor de e-mail recusou a mensagem (erro permanente).".to_owned(),
                ))
            }
            Err(e) => {
                tracing::warn!(error = %e, "SMTP delivery failed; will retry");
                Err(JobError::Retryable(
                    "O servidor de e-mail não aceitou a mensagem agora; nova tentativa em breve."
                        .to_owned(),
                ))
            }
        }
    }
}

pub struct DeliveryJob {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    sealer: Option<Sealer>,
    policy: OutboundPolicy,
    http: reqwest::Client,
    mailer: Option<Arc<Mailer>>,
    retry: RetryPolicy,
}

impl DeliveryJob {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        sealer: Option<Sealer>,
        policy: OutboundPolicy,
        mailer: Option<Arc<Mailer>>,
    ) -> Self {
        let http = policy
            .client(Duration::from_secs(5), WEBHOOK_TIMEOUT)
            .expect("an HTTP client with fixed settings builds");
        DeliveryJob {
            store,
            clock,
            sealer,
            policy,
            http,
            mailer,
            retry: RetryPolicy {
                base: Duration::from_secs(30),
                max: Duration::from_secs(30 * 60),
                jitter: 0.3,
            },
        }
    }

    /// The backoff between attempts (tests make it short).
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    async fn secret(&self, tenant: TenantId) -> Result<crate::secret::Secret, JobError> {
        let missing = || {
            JobError::Fatal(
                "O provedor não tem segredo de assinatura de webhooks; salve as notificações de novo."
                    .to_owned(),
            )
        };
        let sealed = self
            .store
            .notifications(tenant)
            .await
            .map_err(|e| JobError::storage("Erro ao ler o segredo do webhook", &e))?
            .secret_sealed
            .ok_or_else(missing)?;
        let sealer = self.sealer.as_ref().ok_or_else(missing)?;
        sealer
            .open(tenant, SECRET_FIELD, &sealed)
            .map_err(|_| missing())
    }

    async fn post(
        &self,
        ctx: &JobContext,
        p: &DeliveryParams,
        body: Vec<u8>,
    ) -> Result<Value, JobError> {
        let refused = || {
            JobError::Fatal(
                "O endereço do webhook é de uma rede privada ou reservada, que este servidor não \
                 acessa (OUTBOUND_ALLOWED_NETWORKS)."
                    .to_owned(),
            )
        };
        let url = url::Url::parse(&p.address)
            .map_err(|_| JobError::Fatal("URL do webhook inválida.".to_owned()))?;
        if self.policy.check_url(&url).is_err() {
            return Err(refused());
        }
        let secret = self.secret(ctx.lease().tenant).await?;
        let timestamp = self.clock.now().timestamp();
        let response = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header(
                SIGNATURE_HEADER,
                signature::sign(secret.expose(), timestamp, &body),
            )
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(EVENT_HEADER, p.event.name())
            .header(DELIVERY_HEADER, ctx.lease().job.to_string())
            .body(body)
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) if outbound::was_refused(&e) => return Err(refused()),
            Err(e) if e.is_timeout() => {
                return Err(JobError::Retryable(format!(
                    "O webhook não respondeu em {} segundos.",
                    WEBHOOK_TIMEOUT.as_secs()
                )))
            }
            Err(e) => {
                // without the URL: a tenant's URL may carry a token
                tracing::warn!(error = %e.without_url(), host = url_host(&p.address), "webhook request failed");
                return Err(JobError::Retryable(
                    "Não foi possível conectar ao webhook (conexão recusada ou interrompida)."
                        .to_owned(),
                ));
            }
        };
        let status = response.status();
        let code = status.as_u16();
        if status.is_success() {
            Ok(json!({"http_status": code}))
        } else if status.is_redirection() {
            Err(JobError::Fatal(format!(
                "O webhook respondeu com um redirecionamento (HTTP {code}), que não é seguido; \
                 cadastre o endereço final."
            )))
        } else if code == 408 || code == 429 || status.is_server_error() {
            Err(JobError::Retryable(format!(
                "O webhook respondeu HTTP {code}."
            )))
        } else {
            Err(JobError::Fatal(format!(
                "O webhook recusou a entrega (HTTP {code})."
            )))
        }
    }
}

fn url_host(address: &str) -> String {
    url::Url::parse(address)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default()
}

#[async_trait]
impl JobHandler for DeliveryJob {
    fn kind(&self) -> &'static str {
        NOTIFICATION_KIND
    }

    /// One delivery per provider at a time: the claim then takes
    /// providers in turn, so one provider's slow webhook or pile of tests
    /// cannot hold up the others' notifications.
    fn per_tenant_limit(&self) -> Option<u32> {
        Some(1)
    }

    fn retry_policy(&self) -> Option<RetryPolicy> {
        Some(self.retry.clone())
    }

    fn timeout(&self) -> Option<Duration> {
        Some(Duration::from_secs(60))
    }

    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        // read once: the delivery and its metric both need them
        let params = serde_json::from_value::<DeliveryParams>(ctx.params().clone());
        let channel = params.as_ref().map_or("unknown", |p| p.channel.as_str());
        let result = match &params {
            Ok(p) => self.deliver(&ctx, p).await,
            Err(e) => Err(JobError::Fatal(format!(
                "Parâmetros da entrega ilegíveis: {e}"
            ))),
        };
        let outcome = match &result {
            Ok(_) => "delivered",
            Err(JobError::Retryable(_)) => "retry",
            Err(JobError::Fatal(_)) => "failed",
            Err(JobError::Cancelled) => "cancelled",
            Err(JobError::LeaseLost) => "lease_lost",
        };
        metrics::counter!(
            "sgp_import_notification_deliveries_total",
            "channel" => channel,
            "outcome" => outcome
        )
        .increment(1);
        result
    }
}

impl DeliveryJob {
    async fn deliver(&self, ctx: &JobContext, p: &DeliveryParams) -> Result<Value, JobError> {
        let body = payload::sent(&p.body, self.clock.now());
        match p.channel {
            Channel::Webhook => {
                let bytes = serde_json::to_vec(&body).unwrap_or_default();
                self.post(ctx, p, bytes).await
            }
            Channel::Email => {
                let mailer = self.mailer.as_ref().ok_or_else(|| {
                    JobError::Fatal(
                        "O envio de e-mails não está configurado neste servidor (SMTP_URL)."
                            .to_owned(),
                    )
                })?;
                let (subject, text) = payload::email(p.event, &body);
                mailer.send(&p.address, subject, text).await?;
                Ok(json!({"email": p.address}))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test-rate count tells tests from every other delivery by name.
    #[test]
    fn only_test_deliveries_are_named_as_tests() {
        let every = NotificationEvent::SUBSCRIBABLE
            .into_iter()
            .chain([NotificationEvent::Test]);
        for event in every {
            let name = job_name(event, "ops@teste.com.br");
            assert_eq!(is_test(&name), event == NotificationEvent::Test, "{name}");
        }
        assert!(!is_test("Testes → x"));
    }
}
