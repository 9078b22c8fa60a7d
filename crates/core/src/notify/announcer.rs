//! The announcer beside every executor: on each tick it announces, once
//! each, every finished import, every schedule that paused itself, and
//! every provider silent for longer than its alert allows, queuing a
//! delivery for each target that wants the event. The "announced" mark and
//! the deliveries are written in one transaction, so instances racing on
//! one database announce each thing once, and a crash loses nothing.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::delivery::DeliveryParams;
use super::payload;
use crate::clock::Clock;
use crate::import::IMPORT_KIND;
use crate::model::{NotificationEvent, Tenant, TenantId};
use crate::store::{Announcement, NewJob, NotificationRecord, SilenceWatch, Store, StoreError};

/// Things announced per kind per tick; the rest wait for the next one.
const PER_TICK: u32 = 200;

/// What one tick announced, and the deliveries it queued.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AnnounceReport {
    pub announced: usize,
    pub deliveries: usize,
}

pub struct Announcer {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    public_url: Option<url::Url>,
}

/// Per tick: each provider's settings and identity, read once.
#[derive(Default)]
struct Cache {
    /// `None` for a provider deleted meanwhile.
    tenants: HashMap<TenantId, Option<Tenant>>,
    records: HashMap<TenantId, NotificationRecord>,
}

impl Announcer {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, public_url: Option<url::Url>) -> Self {
        Announcer {
            store,
            clock,
            public_url,
        }
    }

    async fn record<'c>(
        &self,
        cache: &'c mut Cache,
        tenant: TenantId,
    ) -> Result<&'c NotificationRecord, StoreError> {
        use std::collections::hash_map::Entry;
        Ok(match cache.records.entry(tenant) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(self.store.notifications(tenant).await?),
        })
    }

    async fn tenant(
        &self,
        cache: &mut Cache,
        tenant: TenantId,
    ) -> Result<Option<Tenant>, StoreError> {
        if let Some(known) = cache.tenants.get(&tenant) {
            return Ok(known.clone());
        }
        let found = self.store.tenant(tenant).await?;
        cache.tenants.insert(tenant, found.clone());
        Ok(found)
    }

    /// The deliveries of `event` for the provider's targets that want it;
    /// `body` is built only when one does.
    async fn deliveries(
        &self,
        cache: &mut Cache,
        tenant: TenantId,
        event: NotificationEvent,
        body: impl FnOnce(&Tenant) -> Value,
    ) -> Result<Vec<NewJob>, StoreError> {
        let targets: Vec<_> = self
            .record(cache, tenant)
            .await?
            .targets
            .iter()
            .filter(|t| t.events.contains(&event))
            .cloned()
            .collect();
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        let Some(provider) = self.tenant(cache, tenant).await? else {
            return Ok(Vec::new()); // deleted meanwhile
        };
        let body = body(&provider);
        Ok(targets
            .into_iter()
            .map(|t| {
                DeliveryParams {
                    target: t.id,
                    channel: t.channel,
                    address: t.address,
                    event,
                    body: body.clone(),
                }
                .job(tenant)
            })
            .collect())
    }

    async fn announce(
        &self,
        report: &mut AnnounceReport,
        what: Announcement,
        deliveries: Vec<NewJob>,
    ) -> Result<(), StoreError> {
        if self.store.announce(&what, &deliveries).await? {
            report.announced += 1;
            report.deliveries += deliveries.len();
            if !deliveries.is_empty() {
                tracing::info!(?what, deliveries = deliveries.len(), "notifications queued");
            }
        }
        Ok(())
    }

    /// Whether a silence is due an alert now.
    pub fn silence_due(watch: &SilenceWatch, now: DateTime<Utc>) -> bool {
        let reference = watch
            .last_success
            .map_or(watch.since, |s| s.max(watch.since));
        let due = now - reference >= chrono::Duration::hours(i64::from(watch.hours));
        // one alert per silence: a success (a later reference) re-arms it
        due && watch.alerted_at.is_none_or(|a| a < reference)
    }

    /// Ticks every `interval`, until its task is aborted (a tick cut off
    /// midway rolls back; the next tick anywhere picks it up).
    pub async fn run(self, interval: std::time::Duration) {
        use tracing::Instrument;
        async move {
            loop {
                if let Err(e) = self.tick().await {
                    tracing::warn!(error = %e, "announce tick failed; trying again next tick");
                }
                tokio::time::sleep(interval).await;
            }
        }
        .instrument(tracing::info_span!("announcer"))
        .await
    }

    /// One pass. A thing that cannot be announced now is logged and left
    /// for the next tick; the others go on.
    pub async fn tick(&self) -> Result<AnnounceReport, StoreError> {
        let mut report = AnnounceReport::default();
        let mut cache = Cache::default();
        for job in self.store.unannounced_jobs(IMPORT_KIND, PER_TICK).await? {
            if let Err(e) = self.announce_job(&mut report, &mut cache, &job).await {
                tracing::warn!(job_id = %job.id, tenant_id = %job.tenant_id, error = %e, "could not announce a finished import");
            }
        }
        for pause in self.store.unannounced_pauses(PER_TICK).await? {
            let deliveries = self
                .deliveries(
                    &mut cache,
                    pause.tenant,
                    NotificationEvent::SchedulePaused,
                    |t| payload::pause_body(t, &pause, self.public_url.as_ref()),
                )
                .await;
            let done = match deliveries {
                Ok(d) => {
                    self.announce(&mut report, Announcement::Pause(pause.tenant), d)
                        .await
                }
                Err(e) => Err(e),
            };
            if let Err(e) = done {
                tracing::warn!(tenant_id = %pause.tenant, error = %e, "could not announce a paused schedule");
            }
        }
        let now = self.clock.now();
        for watch in self.store.silence_watches(IMPORT_KIND).await? {
            if !Self::silence_due(&watch, now) {
                continue;
            }
            let deliveries = self
                .deliveries(
                    &mut cache,
                    watch.tenant,
                    NotificationEvent::NoSuccess,
                    |t| payload::silence_body(t, &watch, self.public_url.as_ref()),
                )
                .await;
            let what = Announcement::NoSuccess {
                tenant: watch.tenant,
                previous: watch.alerted_at,
            };
            let done = match deliveries {
                Ok(d) => self.announce(&mut report, what, d).await,
                Err(e) => Err(e),
            };
            if let Err(e) = done {
                tracing::warn!(tenant_id = %watch.tenant, error = %e, "could not announce a silence");
            }
        }
        Ok(report)
    }

    async fn announce_job(
        &self,
        report: &mut AnnounceReport,
        cache: &mut Cache,
        job: &crate::model::JobSummary,
    ) -> Result<(), StoreError> {
        let deliveries = match payload::import_event(job.status) {
            Some(event) => {
                self.deliveries(cache, job.tenant_id, event, |t| {
                    payload::import_body(event, t, job, self.public_url.as_ref())
                })
                .await?
            }
            None => Vec::new(),
        };
        self.announce(report, Announcement::Job(job.id), deliveries)
            .await
    }
}
