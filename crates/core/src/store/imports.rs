//! What an import writes, shared by both databases: one page of customers
//! (with their contracts) goes in one transaction with the job's progress
//! and checkpoint, fenced by the attempt's lease.

use std::collections::HashMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::jobs::Lease;
use crate::model::JobProgress;
use crate::sgp::{RowError, SgpContract, SgpCustomer};

/// One page of an import, ready to store.
pub struct PageWrite<'a> {
    pub lease: &'a Lease,
    pub offset: u64,
    pub customers: &'a [SgpCustomer],
    pub errors: &'a [RowError],
    /// The job's progress after this page: the counters are the totals
    /// *before* it; the store adds what the page created, updated, left
    /// unchanged or failed.
    pub progress: &'a JobProgress,
    pub checkpoint: &'a Value,
}

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

/// Customers of a page by key, each once (the last copy wins: SGP can
/// repeat a customer when data shifts between pages).
pub(crate) fn distinct(customers: &[SgpCustomer]) -> Vec<&SgpCustomer> {
    let mut at: HashMap<&str, usize> = HashMap::with_capacity(customers.len());
    let mut out: Vec<&SgpCustomer> = Vec::with_capacity(customers.len());
    for c in customers {
        match at.get(c.key.as_str()) {
            Some(&i) => out[i] = c,
            None => {
                at.insert(&c.key, out.len());
                out.push(c);
            }
        }
    }
    out
}

fn digest(value: &impl serde::Serialize) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let hash = Sha256::digest(&bytes);
    hash.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Covers every mapped field of the customer and its contracts, so an
/// unchanged customer is recognised without comparing columns.
pub(crate) fn customer_hash(c: &SgpCustomer) -> String {
    digest(c)
}

pub(crate) fn contract_hash(c: &SgpContract) -> String {
    digest(c)
}

/// A customer as one JSON object of the set-based upsert. Serialised
/// straight from the parsed customer (no intermediate `Value`): this runs
/// for every changed customer.
#[derive(serde::Serialize)]
pub(crate) struct CustomerRow<'a> {
    k: &'a str,
    id: Option<i64>,
    n: &'a str,
    d: Option<&'a str>,
    t: Option<&'a str>,
    s: Option<String>,
    o: Option<&'a str>,
    street: Option<&'a str>,
    number: Option<&'a str>,
    complement: Option<&'a str>,
    district: Option<&'a str>,
    city: Option<&'a str>,
    state: Option<&'a str>,
    zip: Option<&'a str>,
    lat: Option<&'a str>,
    lon: Option<&'a str>,
    emails: &'a [String],
    phones: &'a [String],
    h: &'a str,
}

impl<'a> CustomerRow<'a> {
    pub(crate) fn new(c: &'a SgpCustomer, hash: &'a str) -> Self {
        let a = &c.address;
        CustomerRow {
            k: &c.key,
            id: c.sgp_id,
            n: &c.name,
            d: c.document.as_deref(),
            t: c.person_type.as_deref(),
            s: c.signup_date.map(|d| d.format("%Y-%m-%d").to_string()),
            o: c.notes.as_deref(),
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
            h: hash,
        }
    }
}

#[derive(serde::Serialize)]
pub(crate) struct ContractRow<'a> {
    k: &'a str,
    cid: i64,
    st: &'static str,
    sr: Option<&'a str>,
    s: Option<String>,
    sv: &'a [crate::sgp::customer::SgpService],
    h: String,
}

impl<'a> ContractRow<'a> {
    pub(crate) fn new(c: &'a SgpContract, customer_id: i64) -> Self {
        ContractRow {
            k: &c.key,
            cid: customer_id,
            st: c.status.as_str(),
            sr: c.status_raw.as_deref(),
            s: c.signup_date.map(|d| d.format("%Y-%m-%d").to_string()),
            sv: &c.services,
            h: contract_hash(c),
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
