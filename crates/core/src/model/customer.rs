//! Imported customers and contracts as the app shows them.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredCustomer {
    pub id: i64,
    /// SGP's id, or `doc:<digits>` when SGP sent none.
    pub sgp_key: String,
    pub sgp_id: Option<i64>,
    pub name: String,
    pub cpf_cnpj: Option<String>,
    pub person_type: Option<String>,
    /// `YYYY-MM-DD`
    pub signup_date: Option<String>,
    pub notes: Option<String>,
    pub street: Option<String>,
    pub number: Option<String>,
    pub complement: Option<String>,
    pub district: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub latitude: Option<String>,
    pub longitude: Option<String>,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    /// When a complete import last found it missing from SGP (it stays
    /// listed, marked); `None` while SGP has it.
    #[serde(with = "super::instant::option", default)]
    pub removed_at: Option<chrono::DateTime<chrono::Utc>>,
    pub contracts: Vec<StoredContract>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredContract {
    pub sgp_key: String,
    /// `ativo`, `suspenso`, ... (see `ContractStatus::as_str`)
    pub status: String,
    pub status_raw: Option<String>,
    pub signup_date: Option<String>,
    /// SGP's services of the contract, with their plans.
    pub services: Vec<StoredService>,
    #[serde(with = "super::instant::option", default)]
    pub removed_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// One service of a contract (internet, TV...) as stored: SGP's
/// `servicos` entry with its plan. Typed rather than free-form JSON, so
/// the pages that list contracts need no JSON tree reader.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredService {
    pub id: Option<i64>,
    pub kind: Option<String>,
    pub plan_id: Option<i64>,
    pub plan: Option<String>,
    pub login: Option<String>,
}

/// A customer an import could not take, for the error report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRowError {
    /// Its place in the job's report (reading on after it).
    pub id: i64,
    pub row_key: Option<String>,
    pub reason: String,
    pub page_offset: Option<u64>,
}

/// How many matching customers a list counts exactly; past this the page
/// says "mais de 10.000" (counting a million matches would cost more than
/// the page itself).
pub const CUSTOMER_COUNT_CAP: u64 = 10_000;

/// A page of the customers list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomerPage {
    pub customers: Vec<StoredCustomer>,
    /// The matches, exact when `total_exact`; otherwise more than
    /// [`CUSTOMER_COUNT_CAP`] (and `total` is the cap plus one).
    pub total: u64,
    #[serde(default = "exact")]
    pub total_exact: bool,
    pub limit: u32,
    pub offset: u64,
    /// For a large provider, whose list is read from the search index:
    /// when the index was last brought up to date (`None` while it is
    /// being built). Small providers' lists are always current and carry
    /// no time.
    #[serde(with = "super::instant::option", default)]
    pub search_refreshed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Whether the provider's list comes from the search index (large
    /// providers).
    #[serde(default)]
    pub from_search_index: bool,
}

fn exact() -> bool {
    true
}
