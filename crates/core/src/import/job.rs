//! The import job: pages through SGP and stores customers and contracts,
//! each write (a page, or the pages that waited for the database) one
//! transaction together with its checkpoint, so a resumed attempt neither
//! loses nor doubles a row.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::integration::{IntegrationError, Integrations};
use super::params::ImportParams;
use super::rules;
use crate::jobs::{JobContext, JobError, JobHandler, RetryPolicy};
use crate::model::{JobProgress, LogLevel};
use crate::sgp::{
    ContractStatus, CustomerPage, CustomerQuery, RowError, SgpClient, SgpClientConfig, SgpError,
    SgpKey, PAGE_SIZE,
};
use crate::store::{HashedCustomer, PageCounts, PageWrite, Removal, RemovalSweep, StoreError};

pub const IMPORT_KIND: &str = "sgp_import";

/// What a completed import stores as its job's result (the REST API's
/// `resultado`; the details modal puts it in words).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportOutcome {
    pub processed: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub failed: u64,
    pub pages: u64,
    /// The last attempt's duration, to a tenth of a second.
    pub seconds_this_attempt: f64,
    /// Customers a complete import no longer found in SGP, now marked
    /// removed (the API's `removidos`).
    #[serde(rename = "removidos", default)]
    pub removed: u64,
    #[serde(rename = "contratos_removidos", default)]
    pub removed_contracts: u64,
    /// Customers not found but left unmarked because there were too many:
    /// they wait for an admin's "Confirmar remoções".
    #[serde(
        rename = "remocoes_pendentes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub removal_pending: Option<u64>,
    #[serde(
        rename = "contratos_pendentes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub contracts_pending: Option<u64>,
}

impl ImportOutcome {
    /// The result once a held removal is confirmed.
    pub fn confirmed(mut self, removal: &Removal) -> Self {
        self.removed = removal.customers;
        self.removed_contracts = removal.contracts;
        self.removal_pending = None;
        self.contracts_pending = None;
        self
    }
}

/// Where an import is: saved with every page.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportCheckpoint {
    /// The next page starts here.
    pub offset: u64,
    pub pages: u64,
    /// Keys of the first page and of the last page stored: a full page of
    /// nothing but these means SGP ignores `offset` and is repeating itself.
    pub first_keys: Vec<String>,
    pub last_keys: Vec<String>,
    /// Rows that failed without a key: a customer among them could be
    /// taken for one that left, so nothing is marked removed.
    #[serde(default)]
    pub keyless_errors: u64,
    /// Row errors stored in the job's error report so far (at most
    /// [`MAX_LISTED_ROW_ERRORS`]; the rest are counted only).
    #[serde(default)]
    pub errors_listed: u64,
    /// Pagination was cut short (SGP repeating itself): the list is not
    /// known to be whole, so nothing is marked removed.
    #[serde(default)]
    pub truncated: bool,
    /// The end-of-import sweep, once done.
    #[serde(default)]
    pub removal: Option<Removal>,
    /// Those keys were gone when an attempt resumed (the job had ended
    /// and another import's sweep dropped them before it was run again):
    /// the pages before cannot be told from customers that left, so
    /// nothing is marked removed.
    #[serde(default)]
    pub seen_lost: bool,
    /// The sweep was settled without marking (the list was not whole) and
    /// the keys dropped: a resumed attempt only finishes.
    #[serde(default)]
    pub swept: bool,
    /// `[unix milliseconds, customers processed]` after pages, for the
    /// speed chart: at most `SPEED_SAMPLES`, thinned by halves.
    #[serde(default)]
    pub speed: Vec<[u64; 2]>,
}

/// Keys the sweep's shortcut counts in memory (8 bytes each, some 100 MB
/// at most); past it the sweep reads the stored keys instead.
const MAX_DISTINCT: usize = 5_000_000;

/// Row errors one import keeps in its error report. An SGP of endless
/// bad rows (which a timeout of hours would let run) would otherwise grow
/// the shared database without bound; an admin facing more than this has
/// the counts, the first rows and the log to go on.
pub const MAX_LISTED_ROW_ERRORS: u64 = 10_000;

/// Points the speed chart keeps (every page until then, then every
/// second one, and so on).
pub const SPEED_SAMPLES: usize = 60;

pub struct ImportJob {
    integrations: Arc<Integrations>,
    client: SgpClientConfig,
    per_tenant_limit: u32,
    retry: Option<RetryPolicy>,
    max_removal_percent: u32,
}

/// Above this share of a provider's customers, a complete import marks
/// none removed and waits for an admin (`import.max_removal_percent`).
pub const DEFAULT_MAX_REMOVAL_PERCENT: u32 = 10;

impl ImportJob {
    pub fn new(integrations: Arc<Integrations>, client: SgpClientConfig) -> Self {
        ImportJob {
            integrations,
            client,
            per_tenant_limit: 1,
            retry: None,
            max_removal_percent: DEFAULT_MAX_REMOVAL_PERCENT,
        }
    }

    /// The removal guard's share, in percent (default 10).
    pub fn with_max_removal_percent(mut self, percent: u32) -> Self {
        self.max_removal_percent = percent.min(100);
        self
    }

    /// The backoff between import attempts (default: the executor's).
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = Some(retry);
        self
    }

    /// How many imports one provider may run at once (default 1).
    pub fn with_per_tenant_limit(mut self, limit: u32) -> Self {
        self.per_tenant_limit = limit.max(1);
        self
    }
}

#[async_trait]
impl JobHandler for ImportJob {
    fn kind(&self) -> &'static str {
        IMPORT_KIND
    }

    fn per_tenant_limit(&self) -> Option<u32> {
        Some(self.per_tenant_limit)
    }

    fn retry_policy(&self) -> Option<RetryPolicy> {
        self.retry.clone()
    }

    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let params: ImportParams = serde_json::from_value(ctx.params().clone())
            .map_err(|e| JobError::Fatal(format!("Parâmetros da importação inválidos: {e}")))?;
        let integration = match self.integrations.open(ctx.lease().tenant).await {
            Ok(i) => i,
            Err(IntegrationError::Store(e)) => {
                return Err(JobError::storage("Erro ao ler a integração com o SGP", &e))
            }
            Err(e) => return Err(JobError::Fatal(e.message_pt())),
        };
        let client = SgpClient::new(integration.base_url, integration.auth, self.client.clone());
        Run::new(ctx, params, client, self.max_removal_percent)?
            .go()
            .await
    }
}

struct Run {
    ctx: JobContext,
    params: ImportParams,
    client: SgpClient,
    checkpoint: ImportCheckpoint,
    progress: JobProgress,
    started: Instant,
    /// Customers processed when this attempt started (for the rate).
    processed_at_start: u64,
    max_removal_percent: u32,
    /// Hashes of the keys of the customers stored so far, while this
    /// attempt has seen every page (not after a resume): their number lets
    /// the end-of-import sweep skip its anti-join when nobody left.
    distinct: Option<HashSet<u64>>,
}

/// A page as the job stores it: customers hashed, bad rows apart.
struct Fetched {
    total: Option<u64>,
    received: usize,
    bytes: usize,
    customers: Vec<HashedCustomer>,
    errors: Vec<RowError>,
    failed_digest: Option<String>,
}

impl Fetched {
    /// Hashing happens here, in the fetching task, while the previous page
    /// is being written.
    fn new(page: CustomerPage) -> Self {
        let mut customers = Vec::with_capacity(page.customers.len());
        let mut errors = Vec::new();
        for row in page.customers {
            match row {
                Ok(c) => customers.push(HashedCustomer::new(c)),
                Err(e) => errors.push(e),
            }
        }
        Fetched {
            total: page.total,
            received: page.received,
            bytes: page.bytes,
            customers,
            errors,
            failed_digest: page.failed_digest,
        }
    }

    /// What tells the page apart, for [`rules::repeats_itself`]: each
    /// customer's key and, when rows failed, the digest of the whole list
    /// as sent. An SGP that ignores `offset` sends the same bytes again,
    /// unreadable rows included; a page whose rows fail alike but differ
    /// is not taken for a repetition.
    fn row_keys(&self) -> Vec<String> {
        self.customers
            .iter()
            .map(|c| c.customer.key.to_string())
            .chain(self.failed_digest.as_ref().map(|d| format!("#{d}")))
            .collect()
    }
}

/// Customers fetched ahead of the writes. When SGP answers faster than
/// pages are stored, the pages waiting are stored together, one
/// transaction for up to this many customers: a transaction's fixed part
/// (its statements' round trips and the commit) was a third of a
/// 100-customer page's time on SQLite. Measured on 100,000 customers,
/// 8 pages instead of 4 made the import 1.18 times as fast on SQLite and
/// 1.07 on PostgreSQL; 16 pages another 1.06 on SQLite. With a slow SGP
/// every page is stored as it comes.
const AHEAD_CUSTOMERS: u32 = 16 * PAGE_SIZE;

/// Bytes of SGP answers fetched ahead of the writes (a page of 100
/// customers is some 100 KB): pages of few but huge customers wait like
/// pages of many, so an import holds no more than its writes, this, and
/// the answer being read.
const AHEAD_BYTES: u32 = 4 * 1024 * 1024;

/// A page as the fetcher hands it over: where it starts, and its share of
/// the customers allowed ahead (given back when the writer takes it, so
/// the next pages are fetched while it is stored).
struct Arrived {
    offset: u64,
    page: Result<Fetched, SgpError>,
    _ahead: (OwnedSemaphorePermit, Option<OwnedSemaphorePermit>),
}

impl Arrived {
    /// Row errors are stored with their page's offset: a page that has
    /// some starts a write of its own.
    fn has_row_errors(&self) -> bool {
        self.page.as_ref().is_ok_and(|p| !p.errors.is_empty())
    }
}

/// The fetching task, stopped when the import stops reading from it.
struct Fetcher(tokio::task::JoinHandle<()>);

impl Drop for Fetcher {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Run {
    fn new(
        ctx: JobContext,
        params: ImportParams,
        client: SgpClient,
        max_removal_percent: u32,
    ) -> Result<Self, JobError> {
        // a checkpoint this code cannot read would restart from the first
        // page with the stored counts kept, counting every customer twice
        let checkpoint: ImportCheckpoint = match ctx.checkpoint() {
            None | Some(Value::Null) => ImportCheckpoint::default(),
            Some(c) => serde_json::from_value(c.clone()).map_err(|e| {
                tracing::error!(error = %e, "unreadable import checkpoint");
                JobError::Fatal(
                    "O ponto de retomada desta importação está ilegível; inicie uma nova \
                     importação."
                        .to_owned(),
                )
            })?,
        };
        let progress = ctx.job().progress.clone();
        let processed_at_start = progress.processed;
        let from_start = checkpoint.pages == 0 && params.is_complete();
        Ok(Run {
            ctx,
            params,
            client,
            checkpoint,
            progress,
            started: Instant::now(),
            processed_at_start,
            max_removal_percent,
            distinct: from_start.then(HashSet::new),
        })
    }

    fn query(&self, offset: u64) -> CustomerQuery {
        CustomerQuery {
            offset,
            limit: PAGE_SIZE,
            contract_status: self.params.only_active.then_some(ContractStatus::Active),
            signup_from: self.params.signup_from,
            signup_to: self.params.signup_to,
            changed_from: if self.params.incremental {
                self.params.changed_since
            } else {
                None
            },
            changed_to: None,
            keys_only: false,
        }
    }

    /// Fetches the pages from `from` on, one request at a time, in a task
    /// of its own, at most `AHEAD_CUSTOMERS` and `AHEAD_BYTES` ahead of the
    /// writes (a page past either waits alone: an SGP that ignores `limit`
    /// costs no more memory than before); transient
    /// failures are retried and each retry goes to the job's log. Ends
    /// after the last page or the first failure, which it hands over too.
    fn fetch_ahead(&self, from: u64) -> (mpsc::UnboundedReceiver<Arrived>, Fetcher) {
        let (pages, arrivals) = mpsc::unbounded_channel();
        let ahead = Arc::new(Semaphore::new(AHEAD_CUSTOMERS as usize));
        let ahead_bytes = Arc::new(Semaphore::new(AHEAD_BYTES as usize));
        let client = self.client.clone();
        let base = self.query(from);
        let ctx = self.ctx.clone();
        let task = tokio::spawn(async move {
            let mut offset = from;
            loop {
                let Ok(mut permit) = ahead.clone().acquire_many_owned(PAGE_SIZE).await else {
                    return;
                };
                let query = CustomerQuery {
                    offset,
                    ..base.clone()
                };
                let mut notices = Vec::new();
                let result = client
                    .customers(&query, |n| {
                        notices.push(format!(
                            "Página a partir de {}: {} Nova tentativa {} de {} em {} s.",
                            query.offset,
                            n.error.message_pt(),
                            n.attempt,
                            n.of,
                            n.delay.as_secs().max(1)
                        ))
                    })
                    .await;
                for line in notices {
                    ctx.log(LogLevel::Warn, line).await;
                }
                let page = result.map(Fetched::new);
                let mut bytes = None;
                let next = match &page {
                    Ok(p) => {
                        let size = p.bytes.min(AHEAD_BYTES as usize) as u32;
                        match ahead_bytes.clone().acquire_many_owned(size).await {
                            Ok(b) => bytes = Some(b),
                            Err(_) => return,
                        }
                        // a page past the usual size waits for the writes
                        // to catch up first
                        let size = p.received.min(AHEAD_CUSTOMERS as usize) as u32;
                        if size > PAGE_SIZE {
                            match ahead.clone().acquire_many_owned(size - PAGE_SIZE).await {
                                Ok(more) => permit.merge(more),
                                Err(_) => return,
                            }
                        }
                        let received = p.received as u64;
                        rules::has_more(offset, received, p.total).then_some(offset + received)
                    }
                    Err(_) => None,
                };
                let arrived = Arrived {
                    offset,
                    page,
                    _ahead: (permit, bytes),
                };
                if pages.send(arrived).is_err() {
                    return;
                }
                match next {
                    Some(n) => offset = n,
                    None => return,
                }
            }
        });
        (arrivals, Fetcher(task))
    }

    async fn go(mut self) -> Result<Value, JobError> {
        if self.checkpoint.removal.is_some() || self.checkpoint.swept || self.checkpoint.truncated {
            // an earlier attempt read the whole list (or stopped reading a
            // repeating SGP) and saved that; it only did not finish
            self.ctx
                .log(
                    LogLevel::Info,
                    "Retomando: a leitura do SGP já havia terminado; concluindo a importação."
                        .to_owned(),
                )
                .await;
            return self.finished().await;
        }
        self.check_seen_kept().await?;
        if self.checkpoint.pages == 0 {
            self.ctx
                .log(
                    LogLevel::Info,
                    format!(
                        "Importação iniciada de {} ({}).",
                        self.client.base_url(),
                        self.params.describe()
                    ),
                )
                .await;
        } else {
            self.ctx
                .log(
                    LogLevel::Info,
                    format!(
                        "Retomando do cliente {} (página {}), com {} já processados.",
                        self.checkpoint.offset,
                        self.checkpoint.pages + 1,
                        self.progress.processed
                    ),
                )
                .await;
        }
        // where this attempt's speed starts (saved with its first page)
        rules::sample_speed(
            &mut self.checkpoint.speed,
            chrono::Utc::now().timestamp_millis().max(0) as u64,
            self.progress.processed,
        );
        let (mut arrivals, mut fetcher) = self.fetch_ahead(self.checkpoint.offset);
        // a page taken from the channel but left for the next write
        let mut held_back: Option<Arrived> = None;
        loop {
            if self.ctx.is_cancelled() {
                return self.cancelled().await;
            }
            let first = match held_back.take() {
                Some(a) => Some(a),
                None => tokio::select! {
                    arrived = arrivals.recv() => arrived,
                    _ = self.ctx.cancelled() => return self.cancelled().await,
                },
            };
            let Some(first) = first else {
                // The fetcher ended after the last page or a failure it
                // handed over, unless it panicked: then the list is not
                // known to be whole and the attempt is retried.
                if let Err(e) = (&mut fetcher.0).await {
                    tracing::warn!(error = %e, "page fetch task ended abnormally");
                    return Err(self
                        .failed(self.checkpoint.offset, SgpError::Connection)
                        .await);
                }
                break;
            };
            // the pages already waiting are stored with it
            let mut batch = vec![first];
            while batch.last().is_some_and(|a| a.page.is_ok()) {
                match arrivals.try_recv() {
                    Ok(a) if a.has_row_errors() => {
                        held_back = Some(a);
                        break;
                    }
                    Ok(a) => batch.push(a),
                    Err(_) => break,
                }
            }
            let mut pages = Vec::with_capacity(batch.len());
            let mut next = self.checkpoint.clone();
            let mut failure = None;
            let mut repeated = None;
            for arrived in batch {
                let offset = arrived.offset;
                let page = match arrived.page {
                    Ok(p) => p,
                    Err(e) => {
                        failure = Some((offset, e));
                        break;
                    }
                };
                let received = page.received as u64;
                let keys = page.row_keys();
                if rules::repeats_itself(&next, offset, received, &keys) {
                    repeated = Some(offset);
                    break;
                }
                next = rules::next_checkpoint(&next, offset, received, keys);
                pages.push((offset, page));
            }
            // pages before a failure or a repetition are stored first
            if !pages.is_empty() {
                self.store_pages(pages, next).await?;
            }
            if let Some((offset, e)) = failure {
                return Err(self.failed(offset, e).await);
            }
            if let Some(offset) = repeated {
                self.ctx
                    .log(
                        LogLevel::Warn,
                        format!(
                            "O SGP devolveu na posição {offset} os mesmos clientes de uma \
                             página anterior (ele parece ignorar o offset). Paginação \
                             encerrada para não repetir clientes."
                        ),
                    )
                    .await;
                self.checkpoint.truncated = true;
                break;
            }
        }
        // nothing more is read (SGP repeating itself may still be answering)
        drop(fetcher);
        self.finished().await
    }

    /// On a resumed complete import, whether the keys its earlier pages
    /// stored are still there. A job's keys go all at once, and only once
    /// it has ended: none left means the job was run again after another
    /// import's sweep dropped them, and the sweep must not take the
    /// earlier pages' customers for ones that left.
    async fn check_seen_kept(&mut self) -> Result<(), JobError> {
        // a complete import stores its keys with every page (older
        // checkpoints included), so pages stored mean keys kept
        if !self.params.is_complete() || self.checkpoint.pages == 0 || self.checkpoint.seen_lost {
            return Ok(());
        }
        let lease = self.ctx.lease();
        let kept = self
            .ctx
            .store()
            .seen_pages(lease.tenant, lease.job)
            .await
            .map_err(|e| JobError::storage("Erro ao ler as páginas já importadas", &e))?;
        if kept == 0 {
            // saved with the next page's checkpoint
            self.checkpoint.seen_lost = true;
        }
        Ok(())
    }

    /// Stores pages fetched one after the other in one transaction, with
    /// `next`, the checkpoint after the last of them.
    async fn store_pages(
        &mut self,
        pages: Vec<(u64, Fetched)>,
        mut next: ImportCheckpoint,
    ) -> Result<(), JobError> {
        let offset = pages[0].0;
        let first_page = self.checkpoint.pages + 1;
        let total = pages.last().and_then(|(_, p)| p.total);
        let mut received = 0u64;
        let mut customers = Vec::new();
        let mut errors = Vec::new();
        for (_, page) in pages {
            received += page.received as u64;
            customers.extend(page.customers);
            errors.extend(page.errors);
        }
        if let Some(set) = &mut self.distinct {
            set.extend(customers.iter().map(|c| {
                let mut h = std::hash::DefaultHasher::new();
                c.customer.key.hash(&mut h);
                h.finish()
            }));
            if set.len() > MAX_DISTINCT {
                // an endless SGP costs its own import, not the process's memory
                self.distinct = None;
            }
        }
        let progress = rules::progress_after(
            &self.progress,
            self.processed_at_start,
            received,
            total,
            self.started.elapsed(),
        );
        let total = progress.total_estimated;
        rules::sample_speed(
            &mut next.speed,
            chrono::Utc::now().timestamp_millis().max(0) as u64,
            progress.processed,
        );
        next.keyless_errors += errors
            .iter()
            .filter(|e| e.key.as_deref().and_then(SgpKey::from_raw).is_none())
            .count() as u64;
        let room = MAX_LISTED_ROW_ERRORS.saturating_sub(next.errors_listed);
        let listed = errors
            .len()
            .min(usize::try_from(room).unwrap_or(usize::MAX));
        next.errors_listed += listed as u64;
        let checkpoint = serde_json::to_value(&next).unwrap_or(Value::Null);
        let numbers = first_page..=next.pages;
        let unlisted = (errors.len() - listed) as u64;
        let log = |counts: &PageCounts| {
            let mut lines = rules::page_log(
                numbers.clone(),
                offset,
                received,
                total,
                counts,
                &errors[..listed],
            );
            if unlisted > 0 {
                lines.push(rules::unlisted_errors_line(unlisted, MAX_LISTED_ROW_ERRORS));
            }
            lines
        };
        let write = PageWrite {
            lease: self.ctx.lease(),
            offset,
            customers: &customers,
            errors: &errors,
            errors_listed: listed,
            progress: &progress,
            checkpoint: &checkpoint,
            log: Some(&log),
            log_cap: self.ctx.log_cap(),
            track_seen: self.params.is_complete(),
        };
        // Not tried again here: an error can arrive after the commit went
        // through, and a second write of the page would count it twice.
        // The attempt ends retryable and the next one resumes from the
        // checkpoint the database actually holds.
        let counts = match self.ctx.store().import_page(&write).await {
            Ok(c) => c,
            Err(StoreError::LeaseLost(_)) => {
                // another attempt owns the job now; it goes on from the checkpoint
                return Err(JobError::LeaseLost);
            }
            Err(e) => {
                return Err(JobError::storage(
                    &format!("Erro ao gravar a página a partir de {offset}"),
                    &e,
                ))
            }
        };
        for (result, n) in [
            ("created", counts.created),
            ("updated", counts.updated),
            ("unchanged", counts.unchanged),
            ("failed", counts.failed),
        ] {
            metrics::counter!("sgp_import_customers_total", "result" => result).increment(n);
        }
        self.progress = JobProgress {
            created: self.progress.created + counts.created,
            updated: self.progress.updated + counts.updated,
            unchanged: self.progress.unchanged + counts.unchanged,
            failed: self.progress.failed + counts.failed,
            ..progress
        };
        self.checkpoint = next;
        Ok(())
    }

    async fn failed(&self, offset: u64, e: SgpError) -> JobError {
        let message = e.message_pt();
        if e.is_transient() {
            self.ctx
                .log(
                    LogLevel::Error,
                    format!("Página a partir de {offset}: {message} Tentativas esgotadas nesta execução."),
                )
                .await;
            JobError::Retryable(message)
        } else {
            JobError::Fatal(message)
        }
    }

    async fn cancelled(&self) -> Result<Value, JobError> {
        Err(self.stop_on_request().await)
    }

    /// Logs where a requested cancel stopped the import.
    async fn stop_on_request(&self) -> JobError {
        self.ctx
            .log(
                LogLevel::Warn,
                format!(
                    "Importação interrompida a pedido após {} clientes ({} páginas).",
                    self.progress.processed, self.checkpoint.pages
                ),
            )
            .await;
        JobError::Cancelled
    }

    /// Marks what a complete import did not see (see
    /// [`Changes`](crate::store::Changes)); `None`
    /// when this import may not: filtered, incremental, or not whole.
    async fn sweep(&mut self) -> Result<Option<Removal>, JobError> {
        if !self.params.is_complete() {
            return Ok(None);
        }
        if let Some(done) = self.checkpoint.removal {
            return Ok(Some(done));
        }
        if self.checkpoint.swept {
            return Ok(None);
        }
        let why_not = if self.checkpoint.truncated {
            Some("a paginação do SGP foi interrompida".to_owned())
        } else if self.checkpoint.seen_lost {
            Some("as páginas lidas antes desta nova execução não estão mais registradas".to_owned())
        } else if self.checkpoint.keyless_errors > 0 {
            Some(format!(
                "{} cliente(s) vieram sem identificação",
                self.checkpoint.keyless_errors
            ))
        } else {
            None
        };
        if let Some(why) = why_not {
            let settled = ImportCheckpoint {
                swept: true,
                ..self.checkpoint.clone()
            };
            let saved = serde_json::to_value(&settled).unwrap_or(Value::Null);
            match self.ctx.store().forget_seen(self.ctx.lease(), &saved).await {
                Ok(()) => self.checkpoint = settled,
                Err(StoreError::LeaseLost(_)) => return Err(JobError::LeaseLost),
                Err(e) => {
                    return Err(JobError::storage(
                        "Erro ao encerrar a conferência de clientes",
                        &e,
                    ))
                }
            }
            self.ctx
                .log(
                    LogLevel::Warn,
                    format!(
                        "Clientes que saíram do SGP não foram verificados: {why}, então a lista \
                         não é completa."
                    ),
                )
                .await;
            return Ok(None);
        }
        let base = self.checkpoint.clone();
        let checkpoint = move |r: &Removal| {
            let done = ImportCheckpoint {
                removal: Some(*r),
                ..base.clone()
            };
            serde_json::to_value(done).unwrap_or(Value::Null)
        };
        let sweep = RemovalSweep {
            lease: self.ctx.lease(),
            max_percent: self.max_removal_percent,
            rewritten: self.progress.updated,
            created: self.progress.created,
            seen: self.distinct.as_ref().map(|s| s.len() as u64),
            checkpoint: &checkpoint,
        };
        if self.ctx.is_cancelled() {
            return Err(self.stop_on_request().await);
        }
        let removal = match self.ctx.store().sweep_removals(&sweep).await {
            Ok(r) => r,
            Err(StoreError::LeaseLost(_)) => return Err(JobError::LeaseLost),
            Err(StoreError::CancelRequested(_)) => {
                // asked to stop before anything was marked: the request
                // reaches the attempt at its next heartbeat
                self.ctx.cancelled().await;
                return Err(self.stop_on_request().await);
            }
            Err(e) => {
                return Err(JobError::storage(
                    "Erro ao marcar os clientes que saíram do SGP",
                    &e,
                ))
            }
        };
        self.checkpoint.removal = Some(removal);
        let (level, line) = rules::removal_log(&removal, self.max_removal_percent);
        if let Some(line) = line {
            self.ctx.log(level, line).await;
        }
        Ok(Some(removal))
    }

    async fn finished(&mut self) -> Result<Value, JobError> {
        let removal = self.sweep().await?;
        let p = &self.progress;
        let secs = self.started.elapsed().as_secs_f64();
        // the current message is what the dashboard shows: say it is done
        // instead of leaving the last page's "Importando clientes: N de N"
        let done = rules::completed(p);
        if let Err(e) = self.ctx.save_progress(&done, None).await {
            // the completion that follows meets the same problem and says so
            tracing::warn!(error = %e, "could not save the final progress");
        }
        self.ctx
            .log(
                LogLevel::Info,
                format!(
                    "Importação concluída: {} clientes processados — {} novos, {} atualizados, \
                     {} sem mudança, {} com erro — em {} páginas.",
                    p.processed, p.created, p.updated, p.unchanged, p.failed, self.checkpoint.pages
                ),
            )
            .await;
        let outcome = ImportOutcome {
            processed: p.processed,
            created: p.created,
            updated: p.updated,
            unchanged: p.unchanged,
            failed: p.failed,
            pages: self.checkpoint.pages,
            seconds_this_attempt: (secs * 10.0).round() / 10.0,
            removed: removal.filter(|r| r.marked).map_or(0, |r| r.customers),
            removed_contracts: removal.filter(|r| r.marked).map_or(0, |r| r.contracts),
            removal_pending: removal.filter(|r| !r.marked).map(|r| r.customers),
            contracts_pending: removal.filter(|r| !r.marked).map(|r| r.contracts),
        };
        serde_json::to_value(outcome).map_err(|e| JobError::Fatal(e.to_string()))
    }
}
