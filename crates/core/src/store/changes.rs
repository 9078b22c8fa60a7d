//! What imports change, shared by both databases: the change rows a page
//! writes (worked out here from what was stored before it), the keys a
//! complete import saw, and the sweep that marks what it did not see.

use std::collections::HashMap;

use async_trait::async_trait;
use serde_json::Value;

use super::imports::{Existing, HashedCustomer};
use super::jobs::Lease;
use super::rows::RowExt;
use super::StoreError;
use crate::model::{ChangeKind, ChangePage, CustomerChange, JobId, StoredService, TenantId};
use crate::sgp::{RowError, SgpKey};

/// A stored customer as a page compares it with what SGP sends now.
pub(crate) struct OldCustomer {
    name: String,
    document: Option<String>,
    address: Vec<Option<String>>,
    emails: Vec<String>,
    phones: Vec<String>,
    removed: bool,
}

/// The columns [`old_customer`] reads (`emails`/`phones` as JSON).
pub(crate) const OLD_CUSTOMER_COLUMNS: &str = "id, name, cpf_cnpj, street, number, complement, \
    district, city, state, zip, latitude, longitude, emails, phones, removed_at";
const ADDRESS_COLUMNS: [&str; 9] = [
    "street",
    "number",
    "complement",
    "district",
    "city",
    "state",
    "zip",
    "latitude",
    "longitude",
];

pub(crate) fn old_customer(row: &impl RowExt) -> Result<(i64, OldCustomer), StoreError> {
    let list = |col: &str| -> Result<Vec<String>, StoreError> {
        Ok(match row.json(col)? {
            Some(v) => serde_json::from_value(v).unwrap_or_default(),
            None => Vec::new(),
        })
    };
    Ok((
        row.int("id")?,
        OldCustomer {
            name: row.text("name")?,
            document: row.opt_text("cpf_cnpj")?,
            address: ADDRESS_COLUMNS
                .iter()
                .map(|c| row.opt_text(c))
                .collect::<Result<_, _>>()?,
            emails: list("emails")?,
            phones: list("phones")?,
            removed: row.opt_time("removed_at")?.is_some(),
        },
    ))
}

/// A stored contract as a page compares it.
pub(crate) struct OldContract {
    status: String,
    plan: Option<String>,
    removed: bool,
}

/// The columns [`old_contract`] reads.
pub(crate) const OLD_CONTRACT_COLUMNS: &str = "sgp_key, status, services, removed_at";

pub(crate) fn old_contract(row: &impl RowExt) -> Result<(String, OldContract), StoreError> {
    let services: Vec<StoredService> = match row.json("services")? {
        Some(v) => serde_json::from_value(v).unwrap_or_default(),
        None => Vec::new(),
    };
    Ok((
        row.text("sgp_key")?,
        OldContract {
            status: row.text("status")?,
            plan: plan_name(services.iter().map(|s| s.plan.as_deref())),
            removed: row.opt_time("removed_at")?.is_some(),
        },
    ))
}

/// A contract's plan as one text: its services' plans, in order.
fn plan_name<'a>(plans: impl Iterator<Item = Option<&'a str>>) -> Option<String> {
    let names: Vec<&str> = plans
        .flatten()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    (!names.is_empty()).then(|| names.join(" + "))
}

/// The stored customers among those a page writes, whose old state the
/// change rows compare against.
pub(crate) fn rewritten_ids(
    changed: &[&HashedCustomer],
    existing: &HashMap<String, Existing>,
) -> Vec<i64> {
    changed
        .iter()
        .filter_map(|c| existing.get(c.customer.key.as_str()).map(|e| e.id))
        .collect()
}

/// The contract keys of the stored customers a page writes.
pub(crate) fn rewritten_contract_keys<'a>(
    changed: &[&'a HashedCustomer],
    existing: &HashMap<String, Existing>,
) -> Vec<&'a str> {
    changed
        .iter()
        .filter(|c| existing.contains_key(c.customer.key.as_str()))
        .flat_map(|c| c.customer.contracts.iter().map(|k| k.key.as_str()))
        .collect()
}

/// One change row, as a page's statement writes it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ChangeRow<'a> {
    pub customer_id: i64,
    pub kind: ChangeKind,
    pub contract_key: Option<&'a str>,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// What the customers a page writes changed, against what was stored:
/// a new customer is one `CustomerCreated` (its contracts come with it);
/// a stored one may come back from removal, change its details, gain a
/// contract, or change a contract's status or plan.
pub(crate) fn page_changes<'a>(
    changed: &[&'a HashedCustomer],
    ids: &HashMap<String, i64>,
    existing: &HashMap<String, Existing>,
    old_customers: &HashMap<i64, OldCustomer>,
    old_contracts: &HashMap<String, OldContract>,
) -> Vec<ChangeRow<'a>> {
    let mut rows = Vec::new();
    for c in changed {
        let key = c.customer.key.as_str();
        let Some(&id) = ids.get(key) else { continue };
        let old = existing.get(key).and_then(|e| old_customers.get(&e.id));
        let Some(old) = old else {
            rows.push(ChangeRow {
                customer_id: id,
                kind: ChangeKind::CustomerCreated,
                contract_key: None,
                old: None,
                new: None,
            });
            continue;
        };
        let row = |kind, contract_key, old, new| ChangeRow {
            customer_id: id,
            kind,
            contract_key,
            old,
            new,
        };
        if old.removed {
            rows.push(row(ChangeKind::CustomerReturned, None, None, None));
        }
        let fields = changed_fields(old, c);
        if !fields.is_empty() {
            rows.push(row(
                ChangeKind::Details,
                None,
                None,
                Some(fields.join(", ")),
            ));
        }
        for k in &c.customer.contracts {
            let status = k.status.as_str();
            let plan = plan_name(k.services.iter().map(|s| s.plan.as_deref()));
            // a contract that left with its customer comes back with it,
            // compared like any other; one that left alone is added again
            match old_contracts.get(k.key.as_str()) {
                Some(o) if !o.removed || old.removed => {
                    if o.status != status {
                        rows.push(row(
                            ChangeKind::ContractStatus,
                            Some(&k.key),
                            Some(o.status.clone()),
                            Some(status.to_owned()),
                        ));
                    }
                    if o.plan != plan {
                        rows.push(row(ChangeKind::Plan, Some(&k.key), o.plan.clone(), plan));
                    }
                }
                _ => rows.push(row(
                    ChangeKind::ContractAdded,
                    Some(&k.key),
                    None,
                    Some(status.to_owned()),
                )),
            }
        }
    }
    rows
}

/// The details an admin cares about that differ, named as the pages name them.
fn changed_fields(old: &OldCustomer, new: &HashedCustomer) -> Vec<&'static str> {
    let c = &new.customer;
    let a = &c.address;
    let address = [
        &a.street,
        &a.number,
        &a.complement,
        &a.district,
        &a.city,
        &a.state,
        &a.zip,
        &a.latitude,
        &a.longitude,
    ];
    let mut fields = Vec::new();
    if old.name != c.name {
        fields.push("nome");
    }
    if old.document != c.document {
        fields.push("CPF/CNPJ");
    }
    if old.address.iter().zip(address).any(|(o, n)| o != n) {
        fields.push("endereço");
    }
    if old.emails != c.emails || old.phones != c.phones {
        fields.push("contatos");
    }
    fields
}

/// The keys a page of a complete import saw: every customer (those whose
/// row failed too, read as the key they are stored under, so a bad row
/// never reads as a departure) and every contract listed. The contracts of
/// failed rows are not known: the page adds their stored ones.
pub(crate) fn seen_keys<'a>(
    customers: &[&'a HashedCustomer],
    errors: &[RowError],
) -> (Vec<String>, Vec<&'a str>) {
    let customer_keys = customers
        .iter()
        .map(|c| c.customer.key.to_string())
        .chain(failed_keys(errors))
        .collect();
    let contract_keys = customers
        .iter()
        .flat_map(|c| c.customer.contracts.iter().map(|k| k.key.as_str()))
        .collect();
    (customer_keys, contract_keys)
}

/// The stored keys of a page's failed rows that have one.
pub(crate) fn failed_keys(errors: &[RowError]) -> impl Iterator<Item = String> + '_ {
    errors
        .iter()
        .filter_map(|e| e.key.as_deref().and_then(SgpKey::from_raw))
        .map(|k| k.to_string())
}

/// Marking what a complete import did not see, as it ends.
pub struct RemovalSweep<'a> {
    pub lease: &'a Lease,
    /// Above this share of the provider's customers, nothing is marked
    /// and the removal waits for an admin.
    pub max_percent: u32,
    /// Stored customers the import rewrote (its `updated` count): with
    /// none, and no customer missing, no contract can be missing.
    pub rewritten: u64,
    /// Customers the import created (not part of the guard's base).
    pub created: u64,
    /// Distinct customers the import stored or found unchanged, when it
    /// knows (one attempt): as many as the provider has means none is
    /// missing, and the sweep skips reading the seen keys. (Were it ever
    /// wrong, a departure would be marked one import later, never a
    /// customer SGP still has.)
    pub seen: Option<u64>,
    /// The job's checkpoint with the sweep's outcome recorded, saved in
    /// its transaction (a resumed attempt does not sweep again).
    pub checkpoint: &'a (dyn Fn(&Removal) -> Value + Send + Sync),
}

/// What a sweep found and did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Removal {
    /// Customers not seen (marked, or waiting when held).
    pub customers: u64,
    /// Contracts not seen.
    pub contracts: u64,
    /// The provider's customers before this import (not marked, not
    /// created by it): the guard's base.
    pub present: u64,
    /// The provider's contracts not marked before the sweep.
    #[serde(default)]
    pub contracts_present: u64,
    /// False when the guard held the marks back.
    pub marked: bool,
}

impl Removal {
    /// Whether `customers` of `present` is more than `max_percent`.
    pub(crate) fn over(customers: u64, present: u64, max_percent: u32) -> bool {
        customers > 0 && u128::from(customers) * 100 > u128::from(present) * u128::from(max_percent)
    }
}

/// What a sweep knows besides the tables: the guard's share (none when an
/// admin confirms) and the import's counts that let it skip work.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SweepHints {
    pub max_percent: Option<u32>,
    pub rewritten: Option<u64>,
    pub seen: Option<u64>,
    pub created: u64,
}

/// Rewrites a job's stored result once its held removal is confirmed,
/// and gives the log line that says so (written in the same transaction,
/// so a confirmation is never stored without it, nor reported failed after
/// it was stored).
pub type ResultEdit<'a> = dyn Fn(Option<Value>, &Removal) -> (Value, String) + Send + Sync + 'a;

/// What an import changed, as every [`super::Store`] keeps it.
#[async_trait]
pub trait Changes: Send + Sync {
    /// Ends a complete import: marks the provider's customers and
    /// contracts it did not see as removed (unless more than
    /// `max_percent` of its customers would be, then nothing is marked),
    /// records their changes and saves the checkpoint, in one transaction
    /// fenced by the lease. The seen keys are dropped unless held.
    async fn sweep_removals(&self, sweep: &RemovalSweep<'_>) -> Result<Removal, StoreError>;

    /// Drops the keys a complete import kept when it may not sweep (its
    /// list was not whole): nothing can be confirmed from them. Saves
    /// `checkpoint` (which says why) in the same transaction, fenced by
    /// the lease: a resumed attempt knows, and a stale one deletes nothing.
    async fn forget_seen(&self, lease: &Lease, checkpoint: &Value) -> Result<(), StoreError>;

    /// How many pages of keys job `job` holds (a resumed import checks
    /// that those of its earlier pages are still there).
    async fn seen_pages(&self, tenant: TenantId, job: JobId) -> Result<u64, StoreError>;

    /// Changes of one kind of a job after the one with id `after`, by id
    /// (keyset: reading a large report stays linear), without counts.
    async fn changes_after(
        &self,
        tenant: TenantId,
        job: JobId,
        kind: ChangeKind,
        after: i64,
        limit: u32,
    ) -> Result<Vec<CustomerChange>, StoreError>;

    /// Marks what a completed import held back, when no import of the
    /// provider has completed since; rewrites its result with `edit`.
    async fn confirm_removals(
        &self,
        tenant: TenantId,
        job: JobId,
        edit: &ResultEdit<'_>,
    ) -> Result<Removal, StoreError>;

    /// A page of a job's changes (of one kind, or all grouped by kind),
    /// with the counts of every kind.
    async fn job_changes(
        &self,
        tenant: TenantId,
        job: JobId,
        kind: Option<ChangeKind>,
        limit: u32,
        offset: u64,
    ) -> Result<ChangePage, StoreError>;

    /// The provider's imports (jobs of `kind`) finished since `since`, with
    /// what each did to its customers.
    async fn finished_imports(
        &self,
        tenant: TenantId,
        kind: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<FinishedImport>, StoreError>;

    /// A customer's changes, newest first (no counts by kind); `NotFound`
    /// for another provider's customer.
    async fn customer_history(
        &self,
        tenant: TenantId,
        customer: i64,
        limit: u32,
        offset: u64,
    ) -> Result<ChangePage, StoreError>;
}

/// A finished import as the dashboard's charts count it.
#[derive(Clone, Debug, PartialEq)]
pub struct FinishedImport {
    pub finished_at: chrono::DateTime<chrono::Utc>,
    pub status: crate::model::JobStatus,
    /// Customers it created.
    pub created: u64,
    /// Customers it marked removed, and those that came back.
    pub removed: u64,
    pub returned: u64,
}

/// The columns [`change`] reads: a change with its customer's key and
/// name (`ch` and `c`), for the statements to add their `WHERE`.
pub(crate) const CHANGE_SELECT: &str = "SELECT ch.id, ch.job_id, ch.customer_id, ch.kind, \
    ch.contract_key, ch.old_value, ch.new_value, ch.created_at, c.sgp_key, c.name \
    FROM import_changes ch JOIN customers c ON c.id = ch.customer_id";

/// A listed change from its row (joined with its customer).
pub(crate) fn change(row: &impl RowExt) -> Result<CustomerChange, StoreError> {
    let kind = row.text("kind")?;
    Ok(CustomerChange {
        id: row.int("id")?,
        job_id: JobId(row.uuid("job_id")?),
        customer_id: row.int("customer_id")?,
        customer_key: row.text("sgp_key")?,
        customer_name: row.text("name")?,
        kind: ChangeKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown change kind {kind}")))?,
        contract_key: row.opt_text("contract_key")?,
        old_value: row.opt_text("old_value")?,
        new_value: row.opt_text("new_value")?,
        at: row.time("created_at")?,
    })
}

/// The [`Changes`] methods, the same SQL on both databases around each
/// one's "not seen by job `$2`" tests (`Self::NOT_SEEN_CUSTOMER` on
/// `c.sgp_key`, `Self::NOT_SEEN_CONTRACT` on `ct.sgp_key`).
macro_rules! changes_for {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use $crate::model::{
                ChangeCounts, ChangeKind, ChangePage, CustomerChange, JobId, JobStatus, TenantId,
            };
            use $crate::store::bind::{At, Doc};
            use $crate::store::changes::{self, Changes, Removal, RemovalSweep, ResultEdit};
            use $crate::store::jobs::sql;
            use $crate::store::rows::RowExt;
            use $crate::store::{Entity, StoreError};

            /// Customers (`c`) of tenant `$1` still present, last written
            /// before job `$2` was queued, that job `$2` did not see.
            fn missing_customers() -> String {
                format!(
                    "c.tenant_id = $1 AND c.removed_at IS NULL \
                     AND c.updated_at <= (SELECT created_at FROM jobs WHERE id = $2) AND {}",
                    <$store>::NOT_SEEN_CUSTOMER
                )
            }

            /// The same for contracts (`ct`).
            fn missing_contracts() -> String {
                format!(
                    "ct.tenant_id = $1 AND ct.removed_at IS NULL \
                     AND ct.updated_at <= (SELECT created_at FROM jobs WHERE id = $2) AND {}",
                    <$store>::NOT_SEEN_CONTRACT
                )
            }

            impl $store {
                /// `count(*)` of a statement about tenant `$1` and job `$2`.
                async fn count_in(
                    tx: &mut sqlx::Transaction<'_, $db>,
                    sql: &str,
                    tenant: TenantId,
                    job: JobId,
                ) -> Result<u64, StoreError> {
                    let n: i64 = sqlx::query_scalar(sql)
                        .bind(tenant.0)
                        .bind(job.0)
                        .fetch_one(&mut **tx)
                        .await?;
                    Ok(n.max(0) as u64)
                }

                /// Runs a statement about tenant `$1`, job `$2`, time `$3`.
                async fn run_in(
                    tx: &mut sqlx::Transaction<'_, $db>,
                    sql: &str,
                    tenant: TenantId,
                    job: JobId,
                    at: At,
                ) -> Result<(), StoreError> {
                    sqlx::query(sql)
                        .bind(tenant.0)
                        .bind(job.0)
                        .bind(at)
                        .execute(&mut **tx)
                        .await?;
                    Ok(())
                }

                /// Counts what job `job` did not see, and marks it (with
                /// its change rows) unless `max_percent` holds it back.
                async fn remove_missing(
                    tx: &mut sqlx::Transaction<'_, $db>,
                    tenant: TenantId,
                    job: JobId,
                    at: At,
                    hints: changes::SweepHints,
                ) -> Result<Removal, StoreError> {
                    let changes::SweepHints {
                        max_percent,
                        rewritten,
                        seen,
                        created,
                    } = hints;
                    let present: i64 = sqlx::query_scalar(
                        "SELECT count(*) FROM customers WHERE tenant_id = $1 \
                         AND removed_at IS NULL",
                    )
                    .bind(tenant.0)
                    .fetch_one(&mut **tx)
                    .await?;
                    let present = present.max(0) as u64;
                    // the anti-join reads every seen key: skipped when it
                    // cannot find anything (the import saw as many customers
                    // as the provider has, or none is older than the import)
                    let customers = if seen == Some(present)
                        || Self::count_in(
                            tx,
                            "SELECT count(*) FROM customers WHERE tenant_id = $1 \
                             AND removed_at IS NULL \
                             AND updated_at <= (SELECT created_at FROM jobs WHERE id = $2)",
                            tenant,
                            job,
                        )
                        .await?
                            == 0
                    {
                        0
                    } else {
                        Self::count_in(
                            tx,
                            &format!("SELECT count(*) FROM customers c WHERE {}", missing_customers()),
                            tenant,
                            job,
                        )
                        .await?
                    };
                    // a contract leaves only with its customer or from the
                    // list of a customer the import rewrote
                    let contracts = if customers == 0 && rewritten == Some(0) {
                        0
                    } else {
                        Self::count_in(
                            tx,
                            &format!("SELECT count(*) FROM contracts ct WHERE {}", missing_contracts()),
                            tenant,
                            job,
                        )
                        .await?
                    };
                    let contracts_present = if contracts == 0 {
                        0
                    } else {
                        let n: i64 = sqlx::query_scalar(
                            "SELECT count(*) FROM contracts WHERE tenant_id = $1 \
                             AND removed_at IS NULL",
                        )
                        .bind(tenant.0)
                        .fetch_one(&mut **tx)
                        .await?;
                        n.max(0) as u64
                    };
                    // the base is what the provider had before this import:
                    // customers it created do not dilute the share
                    let base = present.saturating_sub(created);
                    let held = max_percent.is_some_and(|p| {
                        Removal::over(customers, base, p)
                            || Removal::over(contracts, contracts_present, p)
                    });
                    let removal = Removal {
                        customers,
                        contracts,
                        present: base,
                        contracts_present,
                        marked: !held,
                    };
                    if held || customers + contracts == 0 {
                        return Ok(removal);
                    }
                    let statements = [
                        format!(
                            "INSERT INTO import_changes (tenant_id, job_id, customer_id, kind, \
                                created_at) \
                             SELECT $1, $2, c.id, '{}', $3 FROM customers c WHERE {} \
                             ORDER BY c.id",
                            ChangeKind::CustomerRemoved.as_str(),
                            missing_customers()
                        ),
                        format!(
                            "UPDATE customers SET removed_at = $3 WHERE id IN \
                                (SELECT c.id FROM customers c WHERE {})",
                            missing_customers()
                        ),
                        // a contract of a customer that left goes without a
                        // row of its own: the customer's says it
                        format!(
                            "INSERT INTO import_changes (tenant_id, job_id, customer_id, kind, \
                                contract_key, old_value, created_at) \
                             SELECT $1, $2, ct.customer_id, '{}', ct.sgp_key, ct.status, $3 \
                             FROM contracts ct JOIN customers c ON c.id = ct.customer_id \
                             WHERE c.removed_at IS NULL AND {} \
                             ORDER BY ct.customer_id, ct.sgp_key",
                            ChangeKind::ContractRemoved.as_str(),
                            missing_contracts()
                        ),
                        format!(
                            "UPDATE contracts SET removed_at = $3 WHERE id IN \
                                (SELECT ct.id FROM contracts ct WHERE {})",
                            missing_contracts()
                        ),
                    ];
                    for sql in &statements {
                        Self::run_in(tx, sql, tenant, job, at).await?;
                    }
                    if customers > 0 {
                        // the search index holds the removed mark: its next
                        // refresh reads the customers removed since its last
                        sqlx::query(
                            "INSERT INTO customer_search_state (tenant_id, dirty_at) \
                             VALUES ($1, $2) \
                             ON CONFLICT (tenant_id) DO UPDATE SET dirty_at = excluded.dirty_at",
                        )
                        .bind(tenant.0)
                        .bind(at)
                        .execute(&mut **tx)
                        .await?;
                    }
                    Ok(removal)
                }
            }

            #[async_trait]
            impl Changes for $store {
                async fn sweep_removals(
                    &self,
                    sweep: &RemovalSweep<'_>,
                ) -> Result<Removal, StoreError> {
                    let lease = sweep.lease;
                    let now = At(self.clock.now());
                    let mut tx = self.writes().begin().await?;
                    // fences the attempt (and, on PostgreSQL, locks the job
                    // row); a job asked to stop marks nothing: its cancel
                    // wins over a sweep that has not begun
                    let held = sqlx::query(&format!(
                        "UPDATE jobs SET updated_at = $1 \
                         WHERE id = $2 AND fence = $3 AND lease_owner = $4 AND {}",
                        sql::guard("status", &[JobStatus::Running])
                    ))
                    .bind(now)
                    .bind(lease.job.0)
                    .bind(lease.fence)
                    .bind(&lease.owner)
                    .execute(&mut *tx)
                    .await?;
                    if held.rows_affected() == 0 {
                        let stopping: i64 = sqlx::query_scalar(&format!(
                            "SELECT count(*) FROM jobs \
                             WHERE id = $1 AND fence = $2 AND lease_owner = $3 AND {}",
                            sql::lease_guard()
                        ))
                        .bind(lease.job.0)
                        .bind(lease.fence)
                        .bind(&lease.owner)
                        .fetch_one(&mut *tx)
                        .await?;
                        return Err(if stopping > 0 {
                            StoreError::CancelRequested(lease.job)
                        } else {
                            StoreError::LeaseLost(lease.job)
                        });
                    }
                    let removal = Self::remove_missing(
                        &mut tx,
                        lease.tenant,
                        lease.job,
                        now,
                        changes::SweepHints {
                            max_percent: Some(sweep.max_percent),
                            rewritten: Some(sweep.rewritten),
                            seen: sweep.seen,
                            created: sweep.created,
                        },
                    )
                    .await?;
                    sqlx::query("UPDATE jobs SET checkpoint = $1 WHERE id = $2")
                        .bind(Doc(&(sweep.checkpoint)(&removal)))
                        .bind(lease.job.0)
                        .execute(&mut *tx)
                        .await?;
                    // the keys of finished imports are of no more use (a
                    // held one keeps its own for the confirmation)
                    sqlx::query(
                        "DELETE FROM import_seen WHERE tenant_id = $1 \
                         AND (job_id = $2 AND $3 OR job_id IN (SELECT id FROM jobs \
                            WHERE tenant_id = $1 AND finished_at IS NOT NULL))",
                    )
                    .bind(lease.tenant.0)
                    .bind(lease.job.0)
                    .bind(removal.marked)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(removal)
                }

                async fn confirm_removals(
                    &self,
                    tenant: TenantId,
                    job: JobId,
                    edit: &ResultEdit<'_>,
                ) -> Result<Removal, StoreError> {
                    let now = At(self.clock.now());
                    let mut tx = self.writes().begin().await?;
                    // locks the job row (PostgreSQL): a second confirmation
                    // waits, then finds nothing pending
                    let locked = sqlx::query(
                        "UPDATE jobs SET updated_at = updated_at WHERE id = $1 AND tenant_id = $2",
                    )
                    .bind(job.0)
                    .bind(tenant.0)
                    .execute(&mut *tx)
                    .await?;
                    if locked.rows_affected() == 0 {
                        return Err(StoreError::NotFound(Entity::Job));
                    }
                    let row = sqlx::query(
                        "SELECT kind, status, result, finished_at FROM jobs \
                         WHERE id = $1 AND tenant_id = $2",
                    )
                    .bind(job.0)
                    .bind(tenant.0)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or(StoreError::NotFound(Entity::Job))?;
                    let kind = row.text("kind")?;
                    let pending: i64 = sqlx::query_scalar(
                        "SELECT count(*) FROM import_seen WHERE job_id = $1",
                    )
                    .bind(job.0)
                    .fetch_one(&mut *tx)
                    .await?;
                    if $crate::store::rows::status(&row)? != JobStatus::Completed || pending == 0 {
                        return Err(StoreError::NotAllowed(
                            "Esta importação não tem remoções esperando confirmação.",
                        ));
                    }
                    let finished = row.time("finished_at")?;
                    let newer: i64 = sqlx::query_scalar(&format!(
                        "SELECT count(*) FROM jobs WHERE tenant_id = $1 AND kind = $2 \
                         AND {} AND finished_at > $3",
                        sql::status_in("status", &[JobStatus::Completed])
                    ))
                    .bind(tenant.0)
                    .bind(&kind)
                    .bind(At(finished))
                    .fetch_one(&mut *tx)
                    .await?;
                    let active: i64 =
                        sqlx::query_scalar(&format!("SELECT {}", sql::active_count("$1", "$2")))
                            .bind(tenant.0)
                            .bind(&kind)
                            .fetch_one(&mut *tx)
                            .await?;
                    if active > 0 {
                        // it may be seeing the very customers this would mark
                        return Err(StoreError::NotAllowed(
                            "Há uma importação deste provedor na fila ou em andamento: confirme \
                             as remoções depois que ela terminar.",
                        ));
                    }
                    if newer > 0 {
                        return Err(StoreError::NotAllowed(
                            "Uma importação mais recente já terminou: estas remoções não valem \
                             mais. Veja o resultado dela.",
                        ));
                    }
                    let removal = Self::remove_missing(&mut tx, tenant, job, now, changes::SweepHints::default())
                            .await?;
                    let (result, line) = edit(row.json("result")?, &removal);
                    let line = [(job, crate::model::LogLevel::Info, line)];
                    Self::logs_in(&mut tx, self.now(), &line, $crate::store::jobs::DEFAULT_LOG_CAP)
                        .await?;
                    sqlx::query(
                        "UPDATE jobs SET result = $1, updated_at = $2 WHERE id = $3",
                    )
                    .bind(Doc(&result))
                    .bind(now)
                    .bind(job.0)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("DELETE FROM import_seen WHERE job_id = $1")
                        .bind(job.0)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(removal)
                }

                async fn job_changes(
                    &self,
                    tenant: TenantId,
                    job: JobId,
                    kind: Option<ChangeKind>,
                    limit: u32,
                    offset: u64,
                ) -> Result<ChangePage, StoreError> {
                    let kind = kind.map(ChangeKind::as_str);
                    let rows = sqlx::query(
                        "SELECT kind, CASE WHEN kind = $3 THEN new_value END AS status_to, \
                            count(*) AS n \
                         FROM import_changes WHERE job_id = $1 AND tenant_id = $2 \
                         GROUP BY 1, 2 ORDER BY 1, 2",
                    )
                    .bind(job.0)
                    .bind(tenant.0)
                    .bind(ChangeKind::ContractStatus.as_str())
                    .fetch_all(self.reads())
                    .await?;
                    let mut counts = ChangeCounts::default();
                    for r in &rows {
                        let n = r.int("n")?.max(0) as u64;
                        let Some(k) = ChangeKind::parse(&r.text("kind")?) else {
                            continue;
                        };
                        match counts.by_kind.iter_mut().find(|(kk, _)| *kk == k) {
                            Some((_, total)) => *total += n,
                            None => counts.by_kind.push((k, n)),
                        }
                        if let Some(to) = r.opt_text("status_to")? {
                            counts.status_to.push((to, n));
                        }
                    }
                    counts.by_kind.sort();
                    let total = match kind.and_then(ChangeKind::parse) {
                        Some(k) => counts.of(k),
                        None => counts.total(),
                    };
                    // grouped by kind: the (job, kind, id) index gives that
                    // order without sorting an import's rows
                    let changes = sqlx::query(&format!(
                        "{} WHERE ch.job_id = $1 AND ch.tenant_id = $2 \
                            AND ($3 IS NULL OR ch.kind = $3) \
                         ORDER BY ch.kind, ch.id LIMIT $4 OFFSET $5",
                        changes::CHANGE_SELECT
                    ))
                    .bind(job.0)
                    .bind(tenant.0)
                    .bind(kind)
                    .bind(i64::from(limit))
                    .bind(offset as i64)
                    .fetch_all(self.reads())
                    .await?
                    .iter()
                    .map(changes::change)
                    .collect::<Result<Vec<CustomerChange>, _>>()?;
                    Ok(ChangePage {
                        changes,
                        total,
                        limit,
                        offset,
                        counts,
                    })
                }

                async fn forget_seen(
                    &self,
                    lease: &$crate::store::Lease,
                    checkpoint: &serde_json::Value,
                ) -> Result<(), StoreError> {
                    let mut tx = self.writes().begin().await?;
                    let held = sqlx::query(&format!(
                        "UPDATE jobs SET checkpoint = $1, updated_at = $2 \
                         WHERE id = $3 AND fence = $4 AND lease_owner = $5 AND {}",
                        sql::lease_guard()
                    ))
                    .bind(Doc(checkpoint))
                    .bind(At(self.clock.now()))
                    .bind(lease.job.0)
                    .bind(lease.fence)
                    .bind(&lease.owner)
                    .execute(&mut *tx)
                    .await?;
                    if held.rows_affected() == 0 {
                        return Err(StoreError::LeaseLost(lease.job));
                    }
                    sqlx::query("DELETE FROM import_seen WHERE job_id = $1 AND tenant_id = $2")
                        .bind(lease.job.0)
                        .bind(lease.tenant.0)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn seen_pages(&self, tenant: TenantId, job: JobId) -> Result<u64, StoreError> {
                    let n: i64 = sqlx::query_scalar(
                        "SELECT count(*) FROM import_seen WHERE job_id = $1 AND tenant_id = $2",
                    )
                    .bind(job.0)
                    .bind(tenant.0)
                    .fetch_one(self.writes())
                    .await?;
                    Ok(n.max(0) as u64)
                }

                async fn changes_after(
                    &self,
                    tenant: TenantId,
                    job: JobId,
                    kind: ChangeKind,
                    after: i64,
                    limit: u32,
                ) -> Result<Vec<CustomerChange>, StoreError> {
                    sqlx::query(&format!(
                        "{} WHERE ch.job_id = $1 AND ch.tenant_id = $2 AND ch.kind = $3 \
                            AND ch.id > $4 \
                         ORDER BY ch.id LIMIT $5",
                        changes::CHANGE_SELECT
                    ))
                    .bind(job.0)
                    .bind(tenant.0)
                    .bind(kind.as_str())
                    .bind(after)
                    .bind(i64::from(limit))
                    .fetch_all(self.reads())
                    .await?
                    .iter()
                    .map(changes::change)
                    .collect()
                }

                async fn finished_imports(
                    &self,
                    tenant: TenantId,
                    kind: &str,
                    since: chrono::DateTime<chrono::Utc>,
                ) -> Result<Vec<changes::FinishedImport>, StoreError> {
                    // each count walks its job's slice of the (job, kind, id) index
                    sqlx::query(&format!(
                        "SELECT j.finished_at, j.status, j.created_count, \
                            (SELECT count(*) FROM import_changes ch \
                             WHERE ch.job_id = j.id AND ch.kind = '{}') AS removed, \
                            (SELECT count(*) FROM import_changes ch \
                             WHERE ch.job_id = j.id AND ch.kind = '{}') AS returned \
                         FROM jobs j WHERE j.tenant_id = $1 AND j.kind = $2 \
                            AND j.finished_at >= $3 ORDER BY j.finished_at",
                        ChangeKind::CustomerRemoved.as_str(),
                        ChangeKind::CustomerReturned.as_str()
                    ))
                    .bind(tenant.0)
                    .bind(kind)
                    .bind(At(since))
                    .fetch_all(self.reads())
                    .await?
                    .iter()
                    .map(|r| {
                        Ok(changes::FinishedImport {
                            finished_at: r.time("finished_at")?,
                            status: $crate::store::rows::status(r)?,
                            created: r.int("created_count")?.max(0) as u64,
                            removed: r.int("removed")?.max(0) as u64,
                            returned: r.int("returned")?.max(0) as u64,
                        })
                    })
                    .collect()
                }

                async fn customer_history(
                    &self,
                    tenant: TenantId,
                    customer: i64,
                    limit: u32,
                    offset: u64,
                ) -> Result<ChangePage, StoreError> {
                    let known: Option<i64> = sqlx::query_scalar(
                        "SELECT id FROM customers WHERE id = $1 AND tenant_id = $2",
                    )
                    .bind(customer)
                    .bind(tenant.0)
                    .fetch_optional(self.reads())
                    .await?;
                    if known.is_none() {
                        return Err(StoreError::NotFound(Entity::Customer));
                    }
                    let total: i64 = sqlx::query_scalar(
                        "SELECT count(*) FROM import_changes WHERE customer_id = $1",
                    )
                    .bind(customer)
                    .fetch_one(self.reads())
                    .await?;
                    let changes = sqlx::query(&format!(
                        "{} WHERE ch.customer_id = $1 AND ch.tenant_id = $2 \
                         ORDER BY ch.id DESC LIMIT $3 OFFSET $4",
                        changes::CHANGE_SELECT
                    ))
                    .bind(customer)
                    .bind(tenant.0)
                    .bind(i64::from(limit))
                    .bind(offset as i64)
                    .fetch_all(self.reads())
                    .await?
                    .iter()
                    .map(changes::change)
                    .collect::<Result<Vec<CustomerChange>, _>>()?;
                    Ok(ChangePage {
                        changes,
                        total: total.max(0) as u64,
                        limit,
                        offset,
                        counts: ChangeCounts::default(),
                    })
                }
            }
        };
    };
}
pub(crate) use changes_for;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_holds_only_above_the_share() {
        // 10 % of 100 is 10: ten marks, eleven hold
        assert!(!Removal::over(10, 100, 10));
        assert!(Removal::over(11, 100, 10));
        assert!(!Removal::over(0, 0, 10));
        assert!(Removal::over(1, 0, 10));
        assert!(Removal::over(1, 100, 0));
    }

    #[test]
    fn plans_read_as_one_name() {
        assert_eq!(
            plan_name([Some("100 MB"), None, Some(" TV ")].into_iter()).as_deref(),
            Some("100 MB + TV")
        );
        assert_eq!(plan_name([Some(" ")].into_iter()), None);
    }
}
