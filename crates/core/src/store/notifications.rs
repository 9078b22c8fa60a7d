//! Providers' notification targets and secret ([`Notifications`]), and
//! the step that announces something (a finished import, a paused
//! schedule, a long silence) exactly once: a compare-and-set on its
//! "announced" mark and the deliveries it queues, in one transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{NewJob, StoreError};
use crate::model::{Channel, JobId, JobSummary, NotificationEvent, NotificationTarget, TenantId};

/// What is stored of a provider's notifications.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotificationRecord {
    pub targets: Vec<NotificationTarget>,
    pub no_success_hours: Option<u32>,
    /// The webhook signing secret, sealed.
    pub secret_sealed: Option<Vec<u8>>,
    /// When the settings were last saved (the "no success" clock starts
    /// there when nothing succeeded since).
    pub updated_at: Option<DateTime<Utc>>,
}

/// A target to save: channel, address, events.
pub type TargetInput = (Channel, String, Vec<NotificationEvent>);

/// A schedule that paused itself and was not announced yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnannouncedPause {
    pub tenant: TenantId,
    pub paused_at: DateTime<Utc>,
    pub reason: String,
}

/// A provider watching for "no success in N hours".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SilenceWatch {
    pub tenant: TenantId,
    pub hours: u32,
    /// The last successful import's end, if any.
    pub last_success: Option<DateTime<Utc>>,
    /// When the settings were saved.
    pub since: DateTime<Utc>,
    pub alerted_at: Option<DateTime<Utc>>,
}

/// Something announced once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Announcement {
    /// A finished job.
    Job(JobId),
    /// A provider's paused schedule.
    Pause(TenantId),
    /// A provider's silence; `previous` is the alert time it was read with.
    NoSuccess {
        tenant: TenantId,
        previous: Option<DateTime<Utc>>,
    },
}

#[async_trait]
pub trait Notifications: Send + Sync {
    /// The provider's notifications (empty when never saved).
    async fn notifications(&self, tenant: TenantId) -> Result<NotificationRecord, StoreError>;

    /// Replaces the provider's targets (a target whose channel and address
    /// stay keeps its id), sets the silence alert, and stores a new sealed
    /// secret when one is given.
    async fn save_notifications(
        &self,
        tenant: TenantId,
        targets: &[TargetInput],
        no_success_hours: Option<u32>,
        secret_sealed: Option<&[u8]>,
    ) -> Result<NotificationRecord, StoreError>;

    /// Finished jobs of `kind` not announced yet, oldest first.
    async fn unannounced_jobs(&self, kind: &str, limit: u32)
        -> Result<Vec<JobSummary>, StoreError>;

    /// Paused schedules not announced yet.
    async fn unannounced_pauses(&self, limit: u32) -> Result<Vec<UnannouncedPause>, StoreError>;

    /// Every provider with a silence alert, with its last success of `kind`.
    async fn silence_watches(&self, kind: &str) -> Result<Vec<SilenceWatch>, StoreError>;

    /// Marks the announcement done and queues its deliveries (already
    /// marked announced themselves), in one transaction; `false` when it
    /// was done already (by another instance).
    async fn announce(
        &self,
        announcement: &Announcement,
        deliveries: &[NewJob],
    ) -> Result<bool, StoreError>;
}

/// The [`Notifications`] methods, for `$store`: the same SQL on both
/// databases.
macro_rules! notifications_for {
    ($store:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use uuid::Uuid;
            use $crate::model::{
                Channel, JobStatus, JobSummary, NotificationEvent, NotificationTarget, TenantId,
            };
            use $crate::store::bind::{At, Doc};
            use $crate::store::jobs::sql;
            use $crate::store::notifications::{
                Announcement, NotificationRecord, Notifications, SilenceWatch, TargetInput,
                UnannouncedPause,
            };
            use $crate::store::rows::{self, RowExt};
            use $crate::store::{NewJob, StoreError};

            fn events_text(events: &[NotificationEvent]) -> String {
                events.iter().map(|e| e.name()).collect::<Vec<_>>().join(",")
            }

            fn target(row: &impl RowExt) -> Result<NotificationTarget, StoreError> {
                let channel = row.text("channel")?;
                Ok(NotificationTarget {
                    id: row.uuid("id")?,
                    channel: Channel::parse(&channel)
                        .ok_or_else(|| StoreError::Corrupt(format!("channel {channel:?}")))?,
                    address: row.text("address")?,
                    events: row
                        .text("events")?
                        .split(',')
                        .filter_map(NotificationEvent::from_name)
                        .collect(),
                })
            }

            impl $store {
                async fn read_notifications(
                    &self,
                    tenant: TenantId,
                    from_writer: bool,
                ) -> Result<NotificationRecord, StoreError> {
                    let pool = if from_writer { self.writes() } else { self.reads() };
                    let settings = sqlx::query(
                        "SELECT secret_sealed, CAST(no_success_hours AS BIGINT) AS no_success_hours, updated_at \
                         FROM notification_settings WHERE tenant_id = $1",
                    )
                    .bind(tenant.0)
                    .fetch_optional(pool)
                    .await?;
                    let targets = sqlx::query(
                        "SELECT id, channel, address, events FROM notification_targets \
                         WHERE tenant_id = $1 ORDER BY channel DESC, created_at, address",
                    )
                    .bind(tenant.0)
                    .fetch_all(pool)
                    .await?;
                    Ok(NotificationRecord {
                        targets: targets.iter().map(target).collect::<Result<_, _>>()?,
                        no_success_hours: match &settings {
                            Some(s) => s.opt_int("no_success_hours")?.map(|h| h.max(1) as u32),
                            None => None,
                        },
                        secret_sealed: match &settings {
                            Some(s) => s.opt_bytes("secret_sealed")?,
                            None => None,
                        },
                        updated_at: match &settings {
                            Some(s) => Some(s.time("updated_at")?),
                            None => None,
                        },
                    })
                }
            }

            #[async_trait]
            impl Notifications for $store {
                async fn notifications(
                    &self,
                    tenant: TenantId,
                ) -> Result<NotificationRecord, StoreError> {
                    self.read_notifications(tenant, false).await
                }

                async fn save_notifications(
                    &self,
                    tenant: TenantId,
                    targets: &[TargetInput],
                    no_success_hours: Option<u32>,
                    secret_sealed: Option<&[u8]>,
                ) -> Result<NotificationRecord, StoreError> {
                    let now = At(self.clock.now());
                    let mut tx = self.writes().begin().await?;
                    sqlx::query(
                        "INSERT INTO notification_settings (tenant_id, secret_sealed, \
                            no_success_hours, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $4) \
                         ON CONFLICT (tenant_id) DO UPDATE SET \
                            secret_sealed = COALESCE($2, notification_settings.secret_sealed), \
                            no_success_hours = $3, updated_at = $4",
                    )
                    .bind(tenant.0)
                    .bind(secret_sealed)
                    .bind(no_success_hours.map(i64::from))
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    let kept: Vec<String> = targets
                        .iter()
                        .map(|(c, a, _)| format!("{}:{a}", c.as_str()))
                        .collect();
                    // gone: every target not in the new list
                    let existing = sqlx::query(
                        "SELECT id, channel, address FROM notification_targets WHERE tenant_id = $1",
                    )
                    .bind(tenant.0)
                    .fetch_all(&mut *tx)
                    .await?;
                    for row in &existing {
                        let key = format!("{}:{}", row.text("channel")?, row.text("address")?);
                        if !kept.contains(&key) {
                            sqlx::query("DELETE FROM notification_targets WHERE id = $1")
                                .bind(row.uuid("id")?)
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                    for (channel, address, events) in targets {
                        sqlx::query(
                            "INSERT INTO notification_targets (id, tenant_id, channel, address, \
                                events, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
                             ON CONFLICT (tenant_id, channel, address) DO UPDATE SET events = $5",
                        )
                        .bind(Uuid::new_v4())
                        .bind(tenant.0)
                        .bind(channel.as_str())
                        .bind(address)
                        .bind(events_text(events))
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                    self.read_notifications(tenant, true).await
                }

                async fn unannounced_jobs(
                    &self,
                    kind: &str,
                    limit: u32,
                ) -> Result<Vec<JobSummary>, StoreError> {
                    let rows = sqlx::query(&format!(
                        "SELECT {} FROM jobs j \
                         WHERE j.finished_at IS NOT NULL AND j.notified_at IS NULL AND j.kind = $1 \
                         ORDER BY j.finished_at LIMIT $2",
                        rows::summary_columns()
                    ))
                    .bind(kind)
                    .bind(i64::from(limit))
                    .fetch_all(self.writes())
                    .await?;
                    rows.iter().map(rows::summary).collect()
                }

                async fn unannounced_pauses(
                    &self,
                    limit: u32,
                ) -> Result<Vec<UnannouncedPause>, StoreError> {
                    let rows = sqlx::query(
                        "SELECT tenant_id, paused_at, pause_reason FROM import_schedules \
                         WHERE paused_at IS NOT NULL AND pause_notified_at IS NULL \
                         ORDER BY paused_at LIMIT $1",
                    )
                    .bind(i64::from(limit))
                    .fetch_all(self.writes())
                    .await?;
                    rows.iter()
                        .map(|r| {
                            Ok(UnannouncedPause {
                                tenant: TenantId(r.uuid("tenant_id")?),
                                paused_at: r.time("paused_at")?,
                                reason: r.opt_text("pause_reason")?.unwrap_or_default(),
                            })
                        })
                        .collect()
                }

                async fn silence_watches(&self, kind: &str) -> Result<Vec<SilenceWatch>, StoreError> {
                    // the newest completed job by creation: one probe of the
                    // (tenant, status, created_at) index per provider
                    let rows = sqlx::query(&format!(
                        "SELECT s.tenant_id, CAST(s.no_success_hours AS BIGINT) AS no_success_hours, \
                            s.updated_at, s.no_success_alerted_at, \
                            (SELECT j.finished_at FROM jobs j WHERE j.tenant_id = s.tenant_id \
                                AND j.status = {completed} AND j.kind = $1 \
                             ORDER BY j.created_at DESC LIMIT 1) AS last_success \
                         FROM notification_settings s WHERE s.no_success_hours IS NOT NULL",
                        completed = sql::literal(JobStatus::Completed)
                    ))
                    .bind(kind)
                    .fetch_all(self.writes())
                    .await?;
                    rows.iter()
                        .map(|r| {
                            Ok(SilenceWatch {
                                tenant: TenantId(r.uuid("tenant_id")?),
                                hours: r.opt_int("no_success_hours")?.unwrap_or(1).max(1) as u32,
                                last_success: r.opt_time("last_success")?,
                                since: r.time("updated_at")?,
                                alerted_at: r.opt_time("no_success_alerted_at")?,
                            })
                        })
                        .collect()
                }

                async fn announce(
                    &self,
                    announcement: &Announcement,
                    deliveries: &[NewJob],
                ) -> Result<bool, StoreError> {
                    let now = At(self.clock.now());
                    let mut tx = self.writes().begin().await?;
                    let marked = match announcement {
                        Announcement::Job(job) => sqlx::query(
                            // A finished job only: one rerun since it was listed is
                            // waiting again, and will be announced when it ends.
                            "UPDATE jobs SET notified_at = $1 \
                             WHERE id = $2 AND notified_at IS NULL AND finished_at IS NOT NULL",
                        )
                        .bind(now)
                        .bind(job.0)
                        .execute(&mut *tx)
                        .await?,
                        Announcement::Pause(tenant) => sqlx::query(
                            "UPDATE import_schedules SET pause_notified_at = $1 \
                             WHERE tenant_id = $2 AND paused_at IS NOT NULL \
                               AND pause_notified_at IS NULL",
                        )
                        .bind(now)
                        .bind(tenant.0)
                        .execute(&mut *tx)
                        .await?,
                        Announcement::NoSuccess { tenant, previous } => {
                            // never-alerted reads as the epoch on both sides
                            let epoch = At(DateTime::<Utc>::UNIX_EPOCH);
                            sqlx::query(
                                "UPDATE notification_settings SET no_success_alerted_at = $1 \
                                 WHERE tenant_id = $2 \
                                   AND COALESCE(no_success_alerted_at, $3) = COALESCE($4, $3)",
                            )
                            .bind(now)
                            .bind(tenant.0)
                            .bind(epoch)
                            .bind(previous.map(At))
                            .execute(&mut *tx)
                            .await?
                        }
                    };
                    if marked.rows_affected() == 0 {
                        return Ok(false);
                    }
                    for job in deliveries {
                        sqlx::query(&format!(
                            "INSERT INTO jobs (id, tenant_id, kind, name, params, status, attempt, \
                                max_attempts, run_after, created_at, updated_at, origin, notified_at) \
                             VALUES ($1, $2, $3, $4, $5, {queued}, 0, $6, $7, $7, $7, $8, $7)",
                            queued = sql::literal(JobStatus::Queued)
                        ))
                        .bind(job.id.0)
                        .bind(job.tenant.0)
                        .bind(&job.kind)
                        .bind(&job.name)
                        .bind(Doc(&job.params))
                        .bind(i64::from(job.max_attempts.max(1)))
                        .bind(now)
                        .bind(job.origin.as_str())
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                    if !deliveries.is_empty() {
                        self.wake_executors().await;
                    }
                    Ok(true)
                }
            }
        };
    };
}
pub(crate) use notifications_for;
