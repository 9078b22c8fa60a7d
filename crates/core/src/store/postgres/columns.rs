//! An import page's rows as one array per column, read by `unnest`.
//!
//! Rows used to travel as one JSONB array per statement
//! (`jsonb_to_recordset`). PostgreSQL parses a JSONB parameter before the
//! statement runs: measured over a 100,000-customer import, parsing the
//! customers' batches (160 KB a page of 400) took about as long as
//! inserting them, and a page's statements follow one another, so the
//! import waited on it. Arrays travel in sqlx's binary format, which the
//! server copies element by element; only the small JSON values (e-mails,
//! phones, services) are still parsed, row by row.

use std::sync::LazyLock;

use sqlx::postgres::{PgArguments, Postgres};
use sqlx::query::Query;

use crate::store::changes::ChangeRow;
use crate::store::imports::{self, ContractRow, CustomerRow};

type PgQuery<'q> = Query<'q, Postgres, PgArguments>;

/// How a statement inserts its rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::store::postgres) enum Insert {
    /// Rows expected to be new: a stored key fails the statement.
    Plain,
    /// Rows that may be stored: `ON CONFLICT` updates them.
    Upsert,
}

impl Insert {
    fn on_conflict(self, upsert: &'static str) -> &'static str {
        match self {
            Insert::Plain => "",
            Insert::Upsert => upsert,
        }
    }
}

/// The statement `how` names, written once.
fn statement(how: Insert, [plain, upsert]: &[LazyLock<String>; 2]) -> &str {
    match how {
        Insert::Plain => plain,
        Insert::Upsert => upsert,
    }
}

/// `INSERT ... SELECT` of the customers: `$1` tenant, `$2` job, `$3` now,
/// then the columns bound by [`bind_customers`].
pub(super) fn customer_insert(how: Insert) -> &'static str {
    static SQL: [LazyLock<String>; 2] = [
        LazyLock::new(|| customer_sql(Insert::Plain)),
        LazyLock::new(|| customer_sql(Insert::Upsert)),
    ];
    statement(how, &SQL)
}

fn customer_sql(how: Insert) -> String {
    format!(
        "INSERT INTO customers ({}) \
         SELECT $1, r.k, r.id, r.n, r.d, r.t, r.s::date, r.o, r.street, r.number, r.complement, \
            r.district, r.city, r.state, r.zip, r.lat, r.lon, r.emails::jsonb, r.phones::jsonb, \
            r.h, $2, $3, $3 \
         FROM unnest($4::text[], $5::int8[], $6::text[], $7::text[], $8::text[], $9::text[], \
            $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], \
            $16::text[], $17::text[], $18::text[], $19::text[], $20::text[], $21::text[], \
            $22::text[]) \
            AS r(k, id, n, d, t, s, o, street, number, complement, district, city, state, zip, \
            lat, lon, emails, phones, h) \
         {} RETURNING id, sgp_key",
        imports::CUSTOMER_COLUMNS,
        how.on_conflict(imports::CUSTOMER_UPSERT)
    )
}

/// `INSERT ... SELECT` of the contracts: `$1` tenant, `$2` now, then the
/// columns bound by [`bind_contracts`].
pub(super) fn contract_insert(how: Insert) -> &'static str {
    static SQL: [LazyLock<String>; 2] = [
        LazyLock::new(|| contract_sql(Insert::Plain)),
        LazyLock::new(|| contract_sql(Insert::Upsert)),
    ];
    statement(how, &SQL)
}

fn contract_sql(how: Insert) -> String {
    format!(
        "INSERT INTO contracts ({}) \
         SELECT $1, r.cid, r.k, r.st, r.sr, r.s::date, r.sv::jsonb, r.h, $2, $2 \
         FROM unnest($3::text[], $4::int8[], $5::text[], $6::text[], $7::text[], $8::text[], \
            $9::text[]) AS r(k, cid, st, sr, s, sv, h) {}",
        imports::CONTRACT_COLUMNS,
        how.on_conflict(imports::CONTRACT_UPSERT)
    )
}

/// The change rows, in the page's order: `$1` tenant, `$2` job, `$3` now,
/// then the columns bound by [`bind_changes`].
pub(super) const CHANGE_INSERT: &str = "INSERT INTO import_changes (tenant_id, job_id, \
        customer_id, kind, contract_key, old_value, new_value, created_at) \
     SELECT $1, $2, e.cid, e.kind, e.ck, e.old, e.new, $3 \
     FROM unnest($4::int8[], $5::text[], $6::text[], $7::text[], $8::text[]) \
        WITH ORDINALITY AS e(cid, kind, ck, old, new, ord) \
     ORDER BY ord";

/// One array of `rows`, a column.
fn column<'r, R, T>(rows: &'r [R], field: impl Fn(&'r R) -> T) -> Vec<T> {
    rows.iter().map(field).collect()
}

/// Binds `$4` to `$22` of [`customer_insert`].
pub(super) fn bind_customers<'q>(q: PgQuery<'q>, rows: &'q [CustomerRow<'q>]) -> PgQuery<'q> {
    q.bind(column(rows, |r| r.sgp_key))
        .bind(column(rows, |r| r.id))
        .bind(column(rows, |r| r.name))
        .bind(column(rows, |r| r.document))
        .bind(column(rows, |r| r.person_type))
        .bind(column(rows, |r| r.signup_date.as_deref()))
        .bind(column(rows, |r| r.notes))
        .bind(column(rows, |r| r.street))
        .bind(column(rows, |r| r.number))
        .bind(column(rows, |r| r.complement))
        .bind(column(rows, |r| r.district))
        .bind(column(rows, |r| r.city))
        .bind(column(rows, |r| r.state))
        .bind(column(rows, |r| r.zip))
        .bind(column(rows, |r| r.lat))
        .bind(column(rows, |r| r.lon))
        .bind(column(rows, |r| imports::json_array(r.emails)))
        .bind(column(rows, |r| imports::json_array(r.phones)))
        .bind(column(rows, |r| r.content_hash))
}

/// Binds `$3` to `$9` of [`contract_insert`].
pub(super) fn bind_contracts<'q>(q: PgQuery<'q>, rows: &'q [ContractRow<'q>]) -> PgQuery<'q> {
    q.bind(column(rows, |r| r.sgp_key))
        .bind(column(rows, |r| r.customer_id))
        .bind(column(rows, |r| r.status))
        .bind(column(rows, |r| r.status_raw))
        .bind(column(rows, |r| r.signup_date.as_deref()))
        .bind(column(rows, |r| imports::json_array(r.services)))
        .bind(column(rows, |r| r.content_hash))
}

/// Binds `$4` to `$8` of [`CHANGE_INSERT`].
pub(super) fn bind_changes<'q>(q: PgQuery<'q>, rows: &'q [ChangeRow<'q>]) -> PgQuery<'q> {
    q.bind(column(rows, |r| r.customer_id))
        .bind(column(rows, |r| r.kind.as_str()))
        .bind(column(rows, |r| r.contract_key))
        .bind(column(rows, |r| r.old.as_deref()))
        .bind(column(rows, |r| r.new.as_deref()))
}
