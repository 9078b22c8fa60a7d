//! What an import writes, shared by both databases: one page of customers
//! (with their contracts) goes in one transaction with the job's progress
//! and checkpoint, fenced by the attempt's lease.

use std::collections::HashMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

use async_trait::async_trait;

use super::jobs::Lease;
use super::StoreError;
use crate::model::{
    CustomerPage, ImportRowError, JobId, JobProgress, LogLevel, StoredCustomer, TenantId,
};
use crate::sgp::{RowError, SgpContract, SgpCustomer};

/// One write of an import, ready to store: a page, or pages fetched one
/// after the other (`offset` is the first's; row errors come from it
/// alone, the job keeps a page with some for a write of its own).
pub struct PageWrite<'a> {
    pub lease: &'a Lease,
    pub offset: u64,
    pub customers: &'a [HashedCustomer],
    pub errors: &'a [RowError],
    /// How many of `errors`, from the first, go to the job's error report
    /// (all are counted as failed; past a job's cap the rest are only
    /// counted, so an SGP of endless bad rows cannot fill the database).
    pub errors_listed: usize,
    /// The job's progress after this page: the counters are the totals
    /// *before* it; the store adds what the page created, updated, left
    /// unchanged or failed.
    pub progress: &'a JobProgress,
    pub checkpoint: &'a Value,
    /// The page's log lines, made from what it did, written in the same
    /// transaction (kept within `log_cap` lines per job).
    pub log: Option<&'a PageLog<'a>>,
    pub log_cap: u32,
    /// A complete import keeps the keys it saw, for marking what it did
    /// not see when it ends.
    pub track_seen: bool,
}

/// Makes a page's log lines from its counts.
pub type PageLog<'a> = dyn Fn(&PageCounts) -> Vec<(LogLevel, String)> + Send + Sync + 'a;

/// What one page did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageCounts {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub failed: u64,
}

impl PageCounts {
    pub fn total(&self) -> u64 {
        self.created + self.updated + self.unchanged + self.failed
    }
}

/// A customer with the hash of everything stored about it (its contracts
/// included), so an unchanged customer is recognised without comparing
/// columns. Made where the page is fetched, while the previous page is
/// being written, so the writer does not wait for it.
pub struct HashedCustomer {
    pub customer: SgpCustomer,
    pub hash: String,
    /// One per contract, in order: only a changed contract is rewritten.
    pub contract_hashes: Vec<String>,
}

impl HashedCustomer {
    pub fn new(customer: SgpCustomer) -> Self {
        let hash = digest(&customer);
        let contract_hashes = customer.contracts.iter().map(digest).collect();
        HashedCustomer {
            customer,
            hash,
            contract_hashes,
        }
    }
}

/// Customers of a page by key, each once (the last copy wins: SGP can
/// repeat a customer when data shifts between pages).
pub(crate) fn distinct(customers: &[HashedCustomer]) -> Vec<&HashedCustomer> {
    let mut at: HashMap<&str, usize> = HashMap::with_capacity(customers.len());
    let mut out: Vec<&HashedCustomer> = Vec::with_capacity(customers.len());
    for c in customers {
        match at.get(c.customer.key.as_str()) {
            Some(&i) => out[i] = c,
            None => {
                at.insert(c.customer.key.as_str(), out.len());
                out.push(c);
            }
        }
    }
    out
}

/// The SQL both databases share around their own row sources.
pub(crate) const CUSTOMER_COLUMNS: &str = "tenant_id, sgp_key, sgp_id, name, cpf_cnpj, \
    person_type, signup_date, notes, street, number, complement, district, city, state, zip, \
    latitude, longitude, emails, phones, content_hash, last_job_id, created_at, updated_at";
pub(crate) const CUSTOMER_UPSERT: &str = "ON CONFLICT (tenant_id, sgp_key) DO UPDATE SET \
    sgp_id = excluded.sgp_id, name = excluded.name, cpf_cnpj = excluded.cpf_cnpj, \
    person_type = excluded.person_type, signup_date = excluded.signup_date, \
    notes = excluded.notes, street = excluded.street, number = excluded.number, \
    complement = excluded.complement, district = excluded.district, city = excluded.city, \
    state = excluded.state, zip = excluded.zip, latitude = excluded.latitude, \
    longitude = excluded.longitude, emails = excluded.emails, phones = excluded.phones, \
    content_hash = excluded.content_hash, last_job_id = excluded.last_job_id, \
    updated_at = excluded.updated_at, removed_at = NULL";
/// Marks the provider for the search index's next refresh (an import page
/// that wrote customers; see `store::search`).
pub(crate) const MARK_SEARCH_DIRTY_SQLITE: &str =
    "INSERT INTO customer_search_state (tenant_id, dirty_at) VALUES (?1, ?2) \
     ON CONFLICT (tenant_id) DO UPDATE SET dirty_at = excluded.dirty_at";
pub(crate) const MARK_SEARCH_DIRTY_POSTGRES: &str =
    "INSERT INTO customer_search_state (tenant_id, dirty_at) VALUES ($1, $2) \
     ON CONFLICT (tenant_id) DO UPDATE SET dirty_at = excluded.dirty_at";
pub(crate) const CONTRACT_COLUMNS: &str = "tenant_id, customer_id, sgp_key, status, status_raw, \
    signup_date, services, content_hash, created_at, updated_at";
/// Only a contract that changed, moved to another customer or came back
/// from removal is written.
pub(crate) const CONTRACT_UPSERT: &str = "ON CONFLICT (tenant_id, sgp_key) DO UPDATE SET \
    customer_id = excluded.customer_id, status = excluded.status, \
    status_raw = excluded.status_raw, signup_date = excluded.signup_date, \
    services = excluded.services, content_hash = excluded.content_hash, \
    updated_at = excluded.updated_at, removed_at = NULL \
    WHERE contracts.content_hash <> excluded.content_hash \
    OR contracts.customer_id <> excluded.customer_id OR contracts.removed_at IS NOT NULL";
pub(crate) const INTEGRATION_COLUMNS: &str = "tenant_id, base_url, auth_mode, app_name, \
    token_encrypted, token_hint, username, password_encrypted, password_hint, created_at, \
    updated_at";
/// Saving replaces the connection and forgets the last test's outcome.
pub(crate) const INTEGRATION_UPSERT: &str = "ON CONFLICT (tenant_id) DO UPDATE SET \
    base_url = excluded.base_url, auth_mode = excluded.auth_mode, app_name = excluded.app_name, \
    token_encrypted = excluded.token_encrypted, token_hint = excluded.token_hint, \
    username = excluded.username, password_encrypted = excluded.password_encrypted, \
    password_hint = excluded.password_hint, last_tested_at = NULL, last_test_ok = NULL, \
    last_test_message = NULL, updated_at = excluded.updated_at";

/// A page customer already stored: its row, its hash, and whether it was
/// marked removed (one that comes back is written even when unchanged).
pub(crate) struct Existing {
    pub id: i64,
    pub hash: String,
    pub removed: bool,
}

/// Splits a page's customers (each once) into what must be written — new,
/// changed or back from removal — and counts new, changed and unchanged
/// ones, given what is already stored for their keys.
pub(crate) fn classify<'a>(
    customers: &[&'a HashedCustomer],
    existing: &HashMap<String, Existing>,
    failed: usize,
) -> (PageCounts, Vec<&'a HashedCustomer>) {
    let mut counts = PageCounts {
        failed: failed as u64,
        ..PageCounts::default()
    };
    let mut changed = Vec::new();
    for c in customers {
        match existing.get(c.customer.key.as_str()) {
            Some(e) if e.hash == c.hash && !e.removed => counts.unchanged += 1,
            Some(_) => {
                counts.updated += 1;
                changed.push(*c);
            }
            None => {
                counts.created += 1;
                changed.push(*c);
            }
        }
    }
    (counts, changed)
}

/// The contracts of the customers being written, each once (a contract
/// listed under two customers goes with the last), with the row id of the
/// customer it belongs to.
pub(crate) fn contract_rows<'a>(
    changed: &[&'a HashedCustomer],
    ids: &HashMap<String, i64>,
) -> Vec<ContractRow<'a>> {
    let mut seen = std::collections::HashSet::new();
    changed
        .iter()
        .rev()
        .flat_map(|c| {
            let id = ids.get(c.customer.key.as_str()).copied();
            c.customer
                .contracts
                .iter()
                .zip(&c.contract_hashes)
                .filter_map(move |(k, h)| Some((k, h, id?)))
        })
        .filter(|(k, _, _)| seen.insert(k.key.as_str()))
        .map(|(k, h, id)| ContractRow::new(k, h, id))
        .collect()
}

fn digest(value: &impl serde::Serialize) -> String {
    digest_bytes(&serde_json::to_vec(value).unwrap_or_default())
}

/// The first 16 bytes of `bytes`' SHA-256, in hex.
pub(crate) fn digest_bytes(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    hash.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// A customer as one row of the set-based upsert: bound parameters on
/// SQLite, one array per column on PostgreSQL. Fields in
/// `CUSTOMER_COLUMNS` order.
pub(crate) struct CustomerRow<'a> {
    pub sgp_key: &'a str,
    pub id: Option<i64>,
    pub name: &'a str,
    pub document: Option<&'a str>,
    pub person_type: Option<&'a str>,
    pub signup_date: Option<String>,
    pub notes: Option<&'a str>,
    pub street: Option<&'a str>,
    pub number: Option<&'a str>,
    pub complement: Option<&'a str>,
    pub district: Option<&'a str>,
    pub city: Option<&'a str>,
    pub state: Option<&'a str>,
    pub zip: Option<&'a str>,
    pub lat: Option<&'a str>,
    pub lon: Option<&'a str>,
    pub emails: &'a [String],
    pub phones: &'a [String],
    pub content_hash: &'a str,
}

impl<'a> CustomerRow<'a> {
    pub(crate) fn new(hashed: &'a HashedCustomer) -> Self {
        let (c, hash) = (&hashed.customer, hashed.hash.as_str());
        let a = &c.address;
        CustomerRow {
            sgp_key: &c.key,
            id: c.sgp_id,
            name: &c.name,
            document: c.document.as_deref(),
            person_type: c.person_type.as_deref(),
            signup_date: c.signup_date.map(|d| d.to_string()),
            notes: c.notes.as_deref(),
            street: a.street.as_deref(),
            number: a.number.as_deref(),
            complement: a.complement.as_deref(),
            district: a.district.as_deref(),
            city: a.city.as_deref(),
            state: a.state.as_deref(),
            zip: a.zip.as_deref(),
            lat: a.latitude.as_deref(),
            lon: a.longitude.as_deref(),
            emails: &c.emails,
            phones: &c.phones,
            content_hash: hash,
        }
    }
}

/// A contract as one row of the set-based upsert, like [`CustomerRow`].
pub(crate) struct ContractRow<'a> {
    pub sgp_key: &'a str,
    pub customer_id: i64,
    pub status: &'static str,
    pub status_raw: Option<&'a str>,
    pub signup_date: Option<String>,
    pub services: &'a [crate::sgp::customer::SgpService],
    pub content_hash: &'a str,
}

impl<'a> ContractRow<'a> {
    pub(crate) fn new(c: &'a SgpContract, hash: &'a str, customer_id: i64) -> Self {
        ContractRow {
            sgp_key: &c.key,
            customer_id,
            status: c.status.as_str(),
            status_raw: c.status_raw.as_deref(),
            signup_date: c.signup_date.map(|d| d.to_string()),
            services: &c.services,
            content_hash: hash,
        }
    }
}

/// Rows as one JSON array (serialising these structs cannot fail).
pub(crate) fn json_array<T: serde::Serialize>(rows: &[T]) -> String {
    serde_json::to_string(rows).unwrap_or_else(|_| "[]".to_owned())
}

/// A provider's SGP connection as stored: secrets only sealed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntegrationRecord {
    pub base_url: String,
    /// `token` or `basic`
    pub auth_mode: String,
    pub app_name: Option<String>,
    pub token_sealed: Option<Vec<u8>>,
    pub token_hint: Option<String>,
    pub username: Option<String>,
    pub password_sealed: Option<Vec<u8>>,
    pub password_hint: Option<String>,
    pub last_tested_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_test_ok: Option<bool>,
    pub last_test_message: Option<String>,
}

/// Which customers the customers page asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CustomerFilter {
    /// Part of the name, or the start of the CPF/CNPJ (punctuation ignored).
    pub search: Option<String>,
    /// Only customers with a contract in this status (`ativo`, ...).
    pub contract_status: Option<String>,
    /// Only customers marked removed (`true`) or only those SGP still has
    /// (`false`); both when `None`.
    pub removed: Option<bool>,
    pub limit: u32,
    pub offset: u64,
}

/// How a search text matches: words that must each start a word of the
/// name (folded by `text::search_words`: case, accents and punctuation
/// ignored), or the start of the CPF/CNPJ digits when the text is a
/// document's start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CustomerSearch {
    Words(Vec<String>),
    Document(String),
}

impl CustomerFilter {
    pub(crate) fn search(&self) -> Option<CustomerSearch> {
        let text = self.search.as_deref()?.trim();
        if text.is_empty() {
            return None;
        }
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        let looks_like_document = digits.len() >= 3
            && text
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '/' | ' '));
        if looks_like_document {
            return Some(CustomerSearch::Document(digits));
        }
        let words = crate::text::search_words(text);
        // a long paste cannot make a query of hundreds of conditions
        Some(CustomerSearch::Words(
            words
                .split_whitespace()
                .take(8)
                .map(str::to_owned)
                .collect(),
        ))
    }
}

/// What imports need from storage; every [`super::Store`] has it.
#[async_trait]
pub trait Imports: Send + Sync {
    /// Stores one page of an import in one transaction: upserts its
    /// customers and their contracts by (tenant, SGP key), skipping
    /// unchanged ones, keeps its failed rows, and saves the job's progress
    /// and checkpoint. Fails with `LeaseLost`, writing nothing, when the
    /// attempt no longer holds the job.
    async fn import_page(&self, page: &PageWrite<'_>) -> Result<PageCounts, StoreError>;

    /// How many of these SGP keys this tenant already has.
    async fn count_existing_customers(
        &self,
        tenant: TenantId,
        keys: &[String],
    ) -> Result<u64, StoreError>;

    /// When the tenant's last completed job of this kind started.
    async fn last_completed_at(
        &self,
        tenant: TenantId,
        kind: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError>;

    /// The rows a job could not import, in the order it met them: up to
    /// `limit` of them after the one with id `after` (0: from the start).
    /// Keyset-paginated, so reading a large report is linear.
    async fn row_errors(
        &self,
        tenant: TenantId,
        job: JobId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ImportRowError>, StoreError>;

    /// One imported customer with its contracts.
    async fn customer_by_key(
        &self,
        tenant: TenantId,
        sgp_key: &str,
    ) -> Result<Option<StoredCustomer>, StoreError>;

    /// A page of the tenant's customers in alphabetical order (case and
    /// accents ignored, then by id), each with its contracts.
    async fn list_customers(
        &self,
        tenant: TenantId,
        filter: &CustomerFilter,
    ) -> Result<CustomerPage, StoreError>;

    /// Creates or replaces the tenant's SGP connection.
    async fn save_integration(
        &self,
        tenant: TenantId,
        record: &IntegrationRecord,
    ) -> Result<(), StoreError>;

    async fn integration(&self, tenant: TenantId) -> Result<Option<IntegrationRecord>, StoreError>;

    /// Remembers the outcome of the last connection test.
    async fn record_integration_test(
        &self,
        tenant: TenantId,
        ok: bool,
        message: &str,
    ) -> Result<(), StoreError>;
}

/// The [`Imports`] methods whose SQL is the same on both databases (the
/// saved integration, the last completed import, the row-error report),
/// for `$store`, plus the backend's own methods given in braces: the
/// import page (the hot path, tuned to each database) and the customer
/// search (each database's own operators and array binds). Columns are read
/// as the backend's `CUSTOMER_SELECT` and `CONTRACT_SELECT` say (dates as
/// `YYYY-MM-DD` text on both). Times are bound
/// as [`At`](super::bind::At); reads go to `self.reads()`, writes to
/// `self.writes()`.
macro_rules! imports_for {
    ($store:ty, { $($own:tt)* }) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use $crate::model::{
                CustomerPage, ImportRowError, JobId, JobStatus, StoredCustomer, TenantId,
            };
            use $crate::store::bind::At;
            use $crate::store::imports::{
                self, CustomerFilter, Imports, IntegrationRecord, PageCounts,
                PageWrite,
            };
            use $crate::store::jobs::sql;
            use $crate::store::rows::{self, RowExt};
            use $crate::store::{Entity, StoreError};

            #[async_trait]
            impl Imports for $store {
            async fn last_completed_at(
                &self,
                tenant: TenantId,
                kind: &str,
            ) -> Result<Option<DateTime<Utc>>, StoreError> {
                let row = sqlx::query(&format!(
                    "SELECT started_at FROM jobs WHERE tenant_id = $1 AND kind = $2 \
                     AND {} AND started_at IS NOT NULL \
                     ORDER BY started_at DESC LIMIT 1",
                    sql::status_in("status", &[JobStatus::Completed])
                ))
                .bind(tenant.0)
                .bind(kind)
                .fetch_optional(self.reads())
                .await?;
                row.map(|r| r.time("started_at")).transpose()
            }

            async fn row_errors(
                &self,
                tenant: TenantId,
                job: JobId,
                after: i64,
                limit: u32,
            ) -> Result<Vec<ImportRowError>, StoreError> {
                sqlx::query(
                    "SELECT id, row_key, reason, page_offset FROM import_row_errors \
                     WHERE tenant_id = $1 AND job_id = $2 AND id > $3 ORDER BY id LIMIT $4",
                )
                .bind(tenant.0)
                .bind(job.0)
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(self.reads())
                .await?
                .iter()
                .map(rows::row_error)
                .collect()
            }

            async fn customer_by_key(
                &self,
                tenant: TenantId,
                key: &str,
            ) -> Result<Option<StoredCustomer>, StoreError> {
                let Some(row) = sqlx::query(&format!(
                    "SELECT {} FROM customers WHERE tenant_id = $1 AND sgp_key = $2",
                    Self::CUSTOMER_SELECT
                ))
                .bind(tenant.0)
                .bind(key)
                .fetch_optional(self.reads())
                .await?
                else {
                    return Ok(None);
                };
                let contracts = sqlx::query(&format!(
                    "SELECT {} FROM {} WHERE tenant_id = $1 AND customer_id = $2 \
                     ORDER BY sgp_key",
                    Self::CONTRACT_SELECT,
                    Self::CONTRACTS_OF_CUSTOMER
                ))
                .bind(tenant.0)
                .bind(row.int("id")?)
                .fetch_all(self.reads())
                .await?;
                rows::stored_customer(&row, &contracts).map(Some)
            }

            async fn save_integration(
                &self,
                tenant: TenantId,
                r: &IntegrationRecord,
            ) -> Result<(), StoreError> {
                sqlx::query(&format!(
                    "INSERT INTO sgp_integrations ({}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) {}",
                    imports::INTEGRATION_COLUMNS,
                    imports::INTEGRATION_UPSERT
                ))
                .bind(tenant.0)
                .bind(&r.base_url)
                .bind(&r.auth_mode)
                .bind(&r.app_name)
                .bind(&r.token_sealed)
                .bind(&r.token_hint)
                .bind(&r.username)
                .bind(&r.password_sealed)
                .bind(&r.password_hint)
                .bind(At(self.clock.now()))
                .execute(self.writes())
                .await?;
                Ok(())
            }

            async fn integration(&self, tenant: TenantId) -> Result<Option<IntegrationRecord>, StoreError> {
                sqlx::query("SELECT * FROM sgp_integrations WHERE tenant_id = $1")
                    .bind(tenant.0)
                    .fetch_optional(self.reads())
                    .await?
                    .as_ref()
                    .map(rows::integration)
                    .transpose()
            }

            async fn record_integration_test(
                &self,
                tenant: TenantId,
                ok: bool,
                message: &str,
            ) -> Result<(), StoreError> {
                let done = sqlx::query(
                    "UPDATE sgp_integrations SET last_tested_at = $1, last_test_ok = $2, \
                        last_test_message = $3 WHERE tenant_id = $4",
                )
                .bind(At(self.clock.now()))
                .bind(ok)
                .bind(message)
                .bind(tenant.0)
                .execute(self.writes())
                .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound(Entity::Integration));
                }
                Ok(())
            }

                $($own)*
            }
        };
    };
}
pub(crate) use imports_for;
