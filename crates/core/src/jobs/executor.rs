//! The executor: claims jobs only when a slot is free, runs each under a
//! heartbeat, a timeout and panic capture, and records what `decide` makes
//! of the ending. The rescuer (`rescuer.rs`) runs beside it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::decide::{decide, Attempt, Decision, Ending};
use super::patience::with_patience;
use super::rescuer;
use super::{JobContext, JobError, JobHandler, RetryPolicy};
use crate::clock::Clock;
use crate::model::LogLevel;
use crate::store::jobs::DEFAULT_LOG_CAP;
use crate::store::{ClaimedJob, Completion, KindLimit, Outcome, Store, StoreError};

/// How long a freed slot may wait for others before the executor claims.
const CLAIM_BATCH_WINDOW: Duration = Duration::from_millis(5);

#[derive(Clone, Debug)]
pub struct ExecutorConfig {
    /// This executor's name in leases and logs; unique per process.
    pub owner: String,
    pub slots: usize,
    pub job_timeout: Duration,
    pub poll_interval: Duration,
    pub heartbeat: Duration,
    pub lease: Duration,
    pub retry: RetryPolicy,
    pub log_cap: u32,
    /// On shutdown, how long running jobs may go on before they are
    /// released for another process to resume.
    pub shutdown_grace: Duration,
    pub rescue_interval: Duration,
    /// Finished jobs older than this are purged by the rescuer.
    pub retention: Option<Duration>,
}

impl ExecutorConfig {
    pub fn new(owner: impl Into<String>) -> Self {
        ExecutorConfig {
            owner: owner.into(),
            slots: 4,
            job_timeout: Duration::from_secs(6 * 3600),
            poll_interval: Duration::from_secs(1),
            heartbeat: Duration::from_secs(10),
            lease: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            log_cap: DEFAULT_LOG_CAP,
            shutdown_grace: Duration::from_secs(30),
            rescue_interval: Duration::from_secs(15),
            retention: Some(Duration::from_secs(90 * 24 * 3600)),
        }
    }

    /// How long an attempt's last writes (its outcome) keep trying through
    /// a database blip: until shortly before its lease, renewed at most a
    /// heartbeat ago, would run out and the rescuer take over.
    pub fn write_patience(&self) -> Duration {
        self.lease.saturating_sub(self.heartbeat)
    }

    /// `host-pid-random`: tells an operator which process ran a job.
    pub fn default_owner() -> String {
        let host = std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "host".to_owned());
        format!(
            "{host}-{}-{:04x}",
            std::process::id(),
            rand::random::<u16>()
        )
    }
}

pub struct Executor {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: ExecutorConfig,
    handlers: HashMap<&'static str, Arc<dyn JobHandler>>,
    /// Successful attempts go to the completer, which records them in
    /// batches: one transaction for many jobs instead of one each.
    completions: Option<mpsc::UnboundedSender<Completion>>,
}

/// A running executor. Dropping it does not stop it: call `shutdown`.
pub struct ExecutorHandle {
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
}

impl ExecutorHandle {
    /// Stops claiming, lets running jobs finish within the grace period,
    /// then releases the rest for another process to resume.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        while self.tasks.join_next().await.is_some() {}
    }

    /// Stops every task at once without writing anything, as a crash would
    /// (for tests of crash recovery).
    pub async fn abort(mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}

impl Executor {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: ExecutorConfig) -> Self {
        Executor {
            store,
            clock,
            config,
            handlers: HashMap::new(),
            completions: None,
        }
    }

    pub fn register(mut self, handler: impl JobHandler) -> Self {
        self.handlers.insert(handler.kind(), Arc::new(handler));
        self
    }

    pub fn start(mut self) -> ExecutorHandle {
        let shutdown = CancellationToken::new();
        let (sender, receiver) = mpsc::unbounded_channel();
        self.completions = Some(sender);
        let mut tasks = JoinSet::new();
        // Ends when the producer and the rescuer (the senders' owners) end,
        // after recording everything they sent.
        tasks.spawn(complete(
            self.store.clone(),
            receiver,
            self.config.log_cap,
            self.config.owner.clone(),
            self.config.write_patience(),
        ));
        let this = Arc::new(self);
        tasks.spawn(this.clone().produce(shutdown.clone()));
        tasks.spawn(rescuer::run(
            this.store.clone(),
            this.clock.clone(),
            rescuer::RescueConfig::from(&this.config),
            shutdown.clone(),
        ));
        ExecutorHandle { shutdown, tasks }
    }

    fn kinds(&self) -> Vec<KindLimit> {
        self.handlers
            .values()
            .map(|h| KindLimit {
                kind: h.kind().to_owned(),
                per_tenant: h.per_tenant_limit(),
            })
            .collect()
    }

    async fn produce(self: Arc<Self>, shutdown: CancellationToken) {
        let span = tracing::info_span!("executor", owner = %self.config.owner);
        async move {
            let kinds = self.kinds();
            let slots = Arc::new(Semaphore::new(self.config.slots));
            let stop_jobs = CancellationToken::new();
            let mut running = JoinSet::new();
            let mut wakeups = match self.store.wakeups().await {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::warn!(error = %e, "no wake-ups; polling only");
                    None
                }
            };
            tracing::info!(slots = self.config.slots, "executor started");
            while !shutdown.is_cancelled() {
                let free = slots.available_permits();
                let mut full_batch = false;
                if free > 0 {
                    match self
                        .store
                        .claim(&self.config.owner, free as u32, &kinds, self.config.lease, self.config.log_cap)
                        .await
                    {
                        Ok(jobs) => {
                            full_batch = jobs.len() == free;
                            for job in jobs {
                                let permit = slots
                                    .clone()
                                    .try_acquire_owned()
                                    .expect("claimed no more than the free slots");
                                let this = self.clone();
                                let stop = stop_jobs.clone();
                                running.spawn(async move {
                                    this.run_one(job, stop).await;
                                    drop(permit);
                                });
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "claim failed; retrying after the poll interval"),
                    }
                }
                if full_batch {
                    continue;
                }
                let wake = async {
                    match wakeups.as_mut() {
                        Some(w) => w.wait().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = wake => {}
                    _ = tokio::time::sleep(self.config.poll_interval) => {}
                    Some(_) = running.join_next(), if !running.is_empty() => {
                        // Short jobs free their slots in quick succession:
                        // wait a moment for more, so one claim takes several
                        // jobs instead of one round trip per job.
                        let until = tokio::time::Instant::now() + CLAIM_BATCH_WINDOW;
                        while slots.available_permits() < self.config.slots.div_ceil(2) {
                            match tokio::time::timeout_at(until, running.join_next()).await {
                                Ok(Some(_)) => {}
                                _ => break,
                            }
                        }
                    }
                }
            }

            tracing::info!(running = running.len(), "executor stopping: no new claims");
            let drained = tokio::time::timeout(self.config.shutdown_grace, async {
                while running.join_next().await.is_some() {}
            })
            .await;
            if drained.is_err() {
                tracing::warn!(
                    running = running.len(),
                    "grace period over; releasing the remaining jobs"
                );
                stop_jobs.cancel();
                while running.join_next().await.is_some() {}
            }
            tracing::info!("executor stopped");
        }
        .instrument(span)
        .await
    }

    async fn run_one(self: Arc<Self>, job: ClaimedJob, stop: CancellationToken) {
        let span = tracing::info_span!(
            "job",
            job_id = %job.lease.job,
            tenant_id = %job.lease.tenant,
            kind = %job.kind,
            attempt = job.attempt,
        );
        async move {
            let Some(handler) = self.handlers.get(job.kind.as_str()).cloned() else {
                return; // claim asks only for registered kinds
            };
            let cancel = CancellationToken::new();
            let ctx = JobContext::new(
                job.clone(),
                self.store.clone(),
                cancel.clone(),
                self.config.log_cap,
            );
            // The claim wrote the start line to the job's log.
            tracing::info!("job started");
            let started = std::time::Instant::now();
            let ending = self
                .supervise(handler.clone(), ctx.clone(), cancel, stop)
                .await;
            metrics::histogram!(
                "sgp_import_job_duration_seconds",
                "kind" => handler.kind(),
                "ending" => ending_label(&ending)
            )
            .record(started.elapsed().as_secs_f64());
            self.record(&job, &ctx, handler.as_ref(), ending).await;
        }
        .instrument(span)
        .await
    }

    /// Runs the attempt as its own task (so a panic is caught), renewing
    /// the lease, and watching the timeout, cancel requests and shutdown.
    async fn supervise(
        &self,
        handler: Arc<dyn JobHandler>,
        ctx: JobContext,
        cancel: CancellationToken,
        stop: CancellationToken,
    ) -> Ending {
        let lease = ctx.lease().clone();
        let timeout = handler.timeout().unwrap_or(self.config.job_timeout);
        let mut task = tokio::spawn({
            let ctx = ctx.clone();
            async move { handler.run(ctx).await }.in_current_span()
        });
        let mut heartbeat = tokio::time::interval(self.config.heartbeat);
        heartbeat.tick().await; // the first tick is immediate
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                joined = &mut task => {
                    return match joined {
                        Ok(result) => Ending::Returned(result),
                        Err(e) if e.is_panic() => Ending::Panicked(panic_message(e.into_panic())),
                        Err(_) => Ending::Panicked("tarefa interrompida".to_owned()),
                    };
                }
                _ = heartbeat.tick() => {
                    match self.store.heartbeat(&lease, self.config.lease).await {
                        Ok(hb) if hb.cancel_requested && !cancel.is_cancelled() => {
                            tracing::info!("cancel requested");
                            ctx.log(LogLevel::Warn, "Cancelamento solicitado; o job vai parar no próximo ponto seguro.").await;
                            cancel.cancel();
                        }
                        Ok(_) => {}
                        Err(StoreError::LeaseLost(_)) => {
                            task.abort();
                            return Ending::LeaseLost;
                        }
                        Err(e) => tracing::warn!(error = %e, "heartbeat failed; will retry"),
                    }
                }
                _ = &mut deadline => {
                    task.abort();
                    return Ending::TimedOut;
                }
                _ = stop.cancelled() => {
                    task.abort();
                    return Ending::Shutdown;
                }
            }
        }
    }

    /// Writes down what [`decide`] makes of the ending.
    async fn record(
        &self,
        job: &ClaimedJob,
        ctx: &JobContext,
        handler: &dyn JobHandler,
        ending: Ending,
    ) {
        let lease = &job.lease;
        if let Ending::Panicked(what) = &ending {
            tracing::error!(panic = %what, "job panicked");
        }
        let attempt = Attempt {
            number: job.attempt,
            max: job.max_attempts,
            cancel_requested: ctx.is_cancelled(),
        };
        let retry = handler
            .retry_policy()
            .unwrap_or_else(|| self.config.retry.clone());
        let timeout = handler.timeout().unwrap_or(self.config.job_timeout);
        let decision = decide(
            ending,
            attempt,
            &retry,
            timeout,
            self.clock.now(),
            rand::random(),
        );
        let (outcome, level, message) = match decision {
            Decision::Complete { result } => {
                let completion = Completion {
                    lease: lease.clone(),
                    result,
                    log: Some("Concluído.".to_owned()),
                };
                // Normally the completer records it in a batch; without one
                // (or once it has stopped) it is recorded here.
                let unsent = match &self.completions {
                    Some(sender) => match sender.send(completion) {
                        Ok(()) => return,
                        Err(mpsc::error::SendError(c)) => c,
                    },
                    None => completion,
                };
                (
                    Outcome::Completed {
                        result: unsent.result,
                    },
                    LogLevel::Info,
                    "Concluído.".to_owned(),
                )
            }
            Decision::Record {
                outcome,
                level,
                message,
            } => (outcome, level, message),
            Decision::Nothing => {
                tracing::warn!("lease lost; another attempt owns the job now");
                return;
            }
            Decision::Release => {
                match self.store.release(lease).await {
                    Ok(status) => {
                        tracing::info!(%status, "released on shutdown");
                        ctx.log(LogLevel::Warn, "Servidor encerrando; o job volta para a fila e continua do último ponto salvo.").await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "release on shutdown failed; the rescuer will re-queue it")
                    }
                }
                return;
            }
        };
        ctx.log(level, &message).await;
        let recorded = with_patience(
            self.config.write_patience(),
            "recording the outcome",
            || self.store.finish(lease, outcome.clone()),
        )
        .await;
        match recorded {
            Ok(status) => tracing::info!(%status, "attempt ended"),
            Err(StoreError::LeaseLost(_)) => {
                tracing::warn!("attempt ended after losing its lease; outcome discarded")
            }
            Err(e) => {
                tracing::error!(error = %e, "could not record the outcome; the rescuer will retry the job")
            }
        }
    }
}

/// Records successful attempts in batches: whatever has queued up while the
/// previous batches were being written goes in the next transaction. Two
/// batches may be in flight at once, so the database works on one while the
/// other travels (the batches hold different jobs, so order does not matter).
async fn complete(
    store: Arc<dyn Store>,
    mut receiver: mpsc::UnboundedReceiver<Completion>,
    log_cap: u32,
    owner: String,
    patience: Duration,
) {
    const MAX_BATCH: usize = 512;
    const IN_FLIGHT: usize = 2;
    let span = tracing::info_span!("completer", %owner);
    async move {
        let mut writing = JoinSet::new();
        loop {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            if receiver.recv_many(&mut batch, MAX_BATCH).await == 0 {
                break;
            }
            if writing.len() >= IN_FLIGHT {
                writing.join_next().await;
            }
            writing.spawn(record_batch(store.clone(), batch, log_cap, patience).in_current_span());
        }
        while writing.join_next().await.is_some() {}
    }
    .instrument(span)
    .await
}

async fn record_batch(
    store: Arc<dyn Store>,
    batch: Vec<Completion>,
    log_cap: u32,
    patience: Duration,
) {
    // A batch can lose a deadlock against a concurrent cancel, or meet a
    // database that blips; the transaction rolled back whole, so trying
    // again is safe, for about as long as the leases stay ours.
    let result = with_patience(patience, "recording completions", || {
        store.complete_many(&batch, log_cap)
    })
    .await;
    match result {
        Ok(recorded) => {
            if recorded.len() < batch.len() {
                tracing::warn!(
                    lost = batch.len() - recorded.len(),
                    "attempts ended after losing their lease; outcomes discarded"
                );
            }
            for (job, status) in recorded {
                tracing::debug!(job_id = %job, %status, "attempt ended");
            }
        }
        Err(e) => {
            // Their leases will expire and the rescuer re-queues them:
            // at-least-once, never lost.
            tracing::error!(error = %e, jobs = batch.len(), "could not record completions");
        }
    }
}

/// How an attempt ended, for metrics (fixed names).
fn ending_label(ending: &Ending) -> &'static str {
    match ending {
        Ending::Returned(Ok(_)) => "completed",
        Ending::Returned(Err(JobError::Retryable(_))) => "retryable_error",
        Ending::Returned(Err(JobError::Fatal(_))) => "fatal_error",
        Ending::Returned(Err(JobError::Cancelled)) => "cancelled",
        Ending::Returned(Err(JobError::LeaseLost)) => "lease_lost",
        Ending::Panicked(_) => "panicked",
        Ending::TimedOut => "timed_out",
        Ending::LeaseLost => "lease_lost",
        Ending::Shutdown => "released",
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_owned()
    }
}
