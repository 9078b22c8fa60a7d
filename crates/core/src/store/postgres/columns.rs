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

/// `INSERT ... SELECT` of the customers: `$1` tenant, `$2` job, `$3` now,
/// then the columns bound by [`CustomerColumns::bind`].
pub(super) fn customer_insert(how: Insert) -> String {
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
/// columns bound by [`ContractColumns::bind`].
pub(super) fn contract_insert(how: Insert) -> String {
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
/// then the columns bound by [`ChangeColumns::bind`].
pub(super) const CHANGE_INSERT: &str = "INSERT INTO import_changes (tenant_id, job_id, \
        customer_id, kind, contract_key, old_value, new_value, created_at) \
     SELECT $1, $2, e.cid, e.kind, e.ck, e.old, e.new, $3 \
     FROM unnest($4::int8[], $5::text[], $6::text[], $7::text[], $8::text[]) \
        WITH ORDINALITY AS e(cid, kind, ck, old, new, ord) \
     ORDER BY ord";

#[derive(Default)]
pub(super) struct CustomerColumns<'a> {
    key: Vec<&'a str>,
    sgp_id: Vec<Option<i64>>,
    name: Vec<&'a str>,
    document: Vec<Option<&'a str>>,
    person_type: Vec<Option<&'a str>>,
    signup_date: Vec<Option<String>>,
    notes: Vec<Option<&'a str>>,
    street: Vec<Option<&'a str>>,
    number: Vec<Option<&'a str>>,
    complement: Vec<Option<&'a str>>,
    district: Vec<Option<&'a str>>,
    city: Vec<Option<&'a str>>,
    state: Vec<Option<&'a str>>,
    zip: Vec<Option<&'a str>>,
    lat: Vec<Option<&'a str>>,
    lon: Vec<Option<&'a str>>,
    emails: Vec<String>,
    phones: Vec<String>,
    hash: Vec<&'a str>,
}

impl<'a> CustomerColumns<'a> {
    pub(super) fn new(rows: Vec<CustomerRow<'a>>) -> Self {
        let mut c = CustomerColumns::default();
        for r in rows {
            c.key.push(r.sgp_key);
            c.sgp_id.push(r.id);
            c.name.push(r.name);
            c.document.push(r.document);
            c.person_type.push(r.person_type);
            c.signup_date.push(r.signup_date);
            c.notes.push(r.notes);
            c.street.push(r.street);
            c.number.push(r.number);
            c.complement.push(r.complement);
            c.district.push(r.district);
            c.city.push(r.city);
            c.state.push(r.state);
            c.zip.push(r.zip);
            c.lat.push(r.lat);
            c.lon.push(r.lon);
            c.emails.push(imports::json_array(r.emails));
            c.phones.push(imports::json_array(r.phones));
            c.hash.push(r.content_hash);
        }
        c
    }

    /// Binds `$4` to `$22` of [`customer_insert`].
    pub(super) fn bind(self, q: PgQuery<'a>) -> PgQuery<'a> {
        q.bind(self.key)
            .bind(self.sgp_id)
            .bind(self.name)
            .bind(self.document)
            .bind(self.person_type)
            .bind(self.signup_date)
            .bind(self.notes)
            .bind(self.street)
            .bind(self.number)
            .bind(self.complement)
            .bind(self.district)
            .bind(self.city)
            .bind(self.state)
            .bind(self.zip)
            .bind(self.lat)
            .bind(self.lon)
            .bind(self.emails)
            .bind(self.phones)
            .bind(self.hash)
    }
}

#[derive(Default)]
pub(super) struct ContractColumns<'a> {
    key: Vec<&'a str>,
    customer_id: Vec<i64>,
    status: Vec<&'static str>,
    status_raw: Vec<Option<&'a str>>,
    signup_date: Vec<Option<String>>,
    services: Vec<String>,
    hash: Vec<&'a str>,
}

impl<'a> ContractColumns<'a> {
    pub(super) fn new(rows: Vec<ContractRow<'a>>) -> Self {
        let mut c = ContractColumns::default();
        for r in rows {
            c.key.push(r.sgp_key);
            c.customer_id.push(r.customer_id);
            c.status.push(r.status);
            c.status_raw.push(r.status_raw);
            c.signup_date.push(r.signup_date);
            c.services.push(imports::json_array(r.services));
            c.hash.push(r.content_hash);
        }
        c
    }

    /// Binds `$3` to `$9` of [`contract_insert`].
    pub(super) fn bind(self, q: PgQuery<'a>) -> PgQuery<'a> {
        q.bind(self.key)
            .bind(self.customer_id)
            .bind(self.status)
            .bind(self.status_raw)
            .bind(self.signup_date)
            .bind(self.services)
            .bind(self.hash)
    }
}

#[derive(Default)]
pub(super) struct ChangeColumns<'a> {
    customer_id: Vec<i64>,
    kind: Vec<&'static str>,
    contract_key: Vec<Option<&'a str>>,
    old: Vec<Option<String>>,
    new: Vec<Option<String>>,
}

impl<'a> ChangeColumns<'a> {
    pub(super) fn new(rows: Vec<ChangeRow<'a>>) -> Self {
        let mut c = ChangeColumns::default();
        for r in rows {
            c.customer_id.push(r.customer_id);
            c.kind.push(r.kind.as_str());
            c.contract_key.push(r.contract_key);
            c.old.push(r.old);
            c.new.push(r.new);
        }
        c
    }

    /// Binds `$4` to `$8` of [`CHANGE_INSERT`].
    pub(super) fn bind(self, q: PgQuery<'a>) -> PgQuery<'a> {
        q.bind(self.customer_id)
            .bind(self.kind)
            .bind(self.contract_key)
            .bind(self.old)
            .bind(self.new)
    }
}
