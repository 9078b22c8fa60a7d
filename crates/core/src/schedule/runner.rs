//! The scheduler beside every executor: on each tick it counts the
//! outcomes of finished scheduled imports (pausing a schedule at its
//! failure limit), then turns each due slot into one import, or one
//! recorded skip when the provider is busy. Slots are taken with a
//! compare-and-set in the database, so any number of instances may tick.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::Instrument;

use super::{CronSchedule, TIME_ZONE};
use crate::clock::Clock;
use crate::import::{ImportParams, IMPORT_KIND};
use crate::model::JobOrigin;
use crate::store::{
    DueSchedule, NewJob, PausedSchedule, ScheduledRun, SlotOutcome, Store, StoreError,
};

/// What a skipped run says in the history.
pub const SKIP_REASON: &str = "Pulada: já havia uma importação em andamento.";

/// Due schedules handled per tick; the rest wait for the next one.
const DUE_PER_TICK: u32 = 200;

/// What one tick did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TickReport {
    pub enqueued: Vec<SlotOutcome>,
    pub skipped: Vec<SlotOutcome>,
    pub paused: Vec<PausedSchedule>,
}

pub struct Scheduler {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl Scheduler {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Scheduler { store, clock }
    }

    /// One pass: settle finished runs, then start every due slot.
    pub async fn tick(&self) -> Result<TickReport, StoreError> {
        let mut report = TickReport {
            paused: self.store.settle_scheduled_runs().await?,
            ..TickReport::default()
        };
        for paused in &report.paused {
            tracing::warn!(tenant_id = %paused.tenant, failures = paused.failures, "schedule paused after failed runs");
        }
        let now = self.clock.now();
        for due in self.store.due_schedules(now, DUE_PER_TICK).await? {
            let span = tracing::info_span!("schedule", tenant_id = %due.tenant, slot = %due.slot);
            match self.start(due, now).instrument(span.clone()).await {
                Ok(Some(outcome @ SlotOutcome::Enqueued(job))) => {
                    span.in_scope(|| tracing::info!(job_id = %job, "scheduled import queued"));
                    report.enqueued.push(outcome);
                }
                Ok(Some(outcome @ SlotOutcome::Skipped(job))) => {
                    span.in_scope(
                        || tracing::info!(job_id = %job, "scheduled import skipped: provider busy"),
                    );
                    report.skipped.push(outcome);
                }
                Ok(Some(SlotOutcome::Paused(paused))) => {
                    // the run before failed once too often after this pass
                    // settled outcomes: the slot pauses the schedule instead
                    span.in_scope(|| {
                        tracing::warn!(
                            failures = paused.failures,
                            "schedule paused after failed runs"
                        )
                    });
                    report.paused.push(paused);
                }
                Ok(None) => {} // another instance took the slot
                Err(e) => span
                    .in_scope(|| tracing::warn!(error = %e, "could not start a scheduled import")),
            }
        }
        metrics::counter!("sgp_import_schedule_runs_total", "result" => "enqueued")
            .increment(report.enqueued.len() as u64);
        metrics::counter!("sgp_import_schedule_runs_total", "result" => "skipped")
            .increment(report.skipped.len() as u64);
        metrics::counter!("sgp_import_schedule_pauses_total").increment(report.paused.len() as u64);
        Ok(report)
    }

    /// Takes one due slot. A run missed while no instance was up is run
    /// once: the next slot is the first after now, not after the missed one.
    async fn start(
        &self,
        due: DueSchedule,
        now: DateTime<Utc>,
    ) -> Result<Option<SlotOutcome>, StoreError> {
        let next = match CronSchedule::parse(&due.input.cron) {
            Ok(cron) => cron.next_after(now.max(due.slot)),
            Err(e) => {
                // saved schedules were checked; a stored one that no longer
                // parses stops here instead of running every tick
                tracing::error!(cron = %due.input.cron, error = %e.message, "stored cron expression does not parse");
                None
            }
        };
        let changed_since = if due.input.incremental {
            crate::import::changed_since(self.store.as_ref(), due.tenant).await?
        } else {
            None
        };
        let name = format!(
            "Sincronização agendada de {}",
            due.slot.with_timezone(&TIME_ZONE).format("%d/%m/%Y %H:%M")
        );
        let params = ImportParams {
            name: name.clone(),
            only_active: due.input.only_active,
            signup_from: due.input.signup_from,
            signup_to: due.input.signup_to,
            incremental: due.input.incremental,
            changed_since,
        };
        let job = NewJob::new(
            due.tenant,
            IMPORT_KIND,
            &name,
            serde_json::to_value(&params).unwrap_or_default(),
        )
        .with_origin(JobOrigin::Scheduled);
        self.store
            .take_slot(ScheduledRun {
                slot: due.slot,
                next,
                job,
                skip_reason: SKIP_REASON.to_owned(),
            })
            .await
    }

    /// Ticks every `interval`, until its task is aborted: a tick cut off
    /// midway rolls back, and the slot waits for the next tick anywhere.
    pub async fn run(self, interval: Duration) {
        let span = tracing::info_span!("scheduler");
        async move {
            loop {
                if let Err(e) = self.tick().await {
                    tracing::warn!(error = %e, "schedule tick failed; trying again next tick");
                }
                tokio::time::sleep(interval).await;
            }
        }
        .instrument(span)
        .await
    }
}
