//! What an import changed, customer by customer: one typed row per change,
//! and the counts the details modal puts in words.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ContractStatus, JobId};

/// The kinds of change an import records (the REST API's `tipo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ChangeKind {
    CustomerCreated,
    CustomerRemoved,
    CustomerReturned,
    ContractAdded,
    ContractRemoved,
    ContractStatus,
    Plan,
    Details,
}

impl ChangeKind {
    pub const ALL: [ChangeKind; 8] = [
        ChangeKind::CustomerCreated,
        ChangeKind::CustomerRemoved,
        ChangeKind::CustomerReturned,
        ChangeKind::ContractAdded,
        ChangeKind::ContractRemoved,
        ChangeKind::ContractStatus,
        ChangeKind::Plan,
        ChangeKind::Details,
    ];

    /// The stored name, which is also the API's `tipo`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::CustomerCreated => "cliente_criado",
            ChangeKind::CustomerRemoved => "cliente_removido",
            ChangeKind::CustomerReturned => "cliente_reativado",
            ChangeKind::ContractAdded => "contrato_adicionado",
            ChangeKind::ContractRemoved => "contrato_removido",
            ChangeKind::ContractStatus => "contrato_status",
            ChangeKind::Plan => "plano",
            ChangeKind::Details => "dados_cadastrais",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The label of a filter chip or a list row.
    pub fn label_pt(self) -> &'static str {
        match self {
            ChangeKind::CustomerCreated => "Cliente novo",
            ChangeKind::CustomerRemoved => "Removido do SGP",
            ChangeKind::CustomerReturned => "Voltou ao SGP",
            ChangeKind::ContractAdded => "Contrato adicionado",
            ChangeKind::ContractRemoved => "Contrato removido",
            ChangeKind::ContractStatus => "Status do contrato",
            ChangeKind::Plan => "Plano",
            ChangeKind::Details => "Dados cadastrais",
        }
    }

    /// "N ..." for the counts sentence.
    fn count_pt(self, n: u64) -> String {
        let one = n == 1;
        let words = match self {
            ChangeKind::CustomerCreated if one => "cliente novo",
            ChangeKind::CustomerCreated => "clientes novos",
            ChangeKind::CustomerRemoved if one => "cliente removido do SGP",
            ChangeKind::CustomerRemoved => "clientes removidos do SGP",
            ChangeKind::CustomerReturned if one => "cliente voltou ao SGP",
            ChangeKind::CustomerReturned => "clientes voltaram ao SGP",
            ChangeKind::ContractAdded if one => "contrato adicionado",
            ChangeKind::ContractAdded => "contratos adicionados",
            ChangeKind::ContractRemoved if one => "contrato removido",
            ChangeKind::ContractRemoved => "contratos removidos",
            ChangeKind::ContractStatus if one => "contrato mudou de status",
            ChangeKind::ContractStatus => "contratos mudaram de status",
            ChangeKind::Plan if one => "mudou de plano",
            ChangeKind::Plan => "mudaram de plano",
            ChangeKind::Details if one => "cliente com dados cadastrais alterados",
            ChangeKind::Details => "clientes com dados cadastrais alterados",
        };
        format!("{} {words}", thousands(n))
    }
}

/// One change to one customer, as listed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomerChange {
    pub id: i64,
    pub job_id: JobId,
    pub customer_id: i64,
    pub customer_key: String,
    pub customer_name: String,
    pub kind: ChangeKind,
    /// The contract it is about (contract kinds and plan).
    pub contract_key: Option<String>,
    /// Status names (`ativo`...) for a status change, plan names for a
    /// plan change; for a details change, `new_value` names the fields.
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    #[serde(with = "super::instant")]
    pub at: DateTime<Utc>,
}

impl CustomerChange {
    /// "Contrato 1002: Ativo → Suspenso", in the pages and the CSV.
    pub fn describe_pt(&self) -> String {
        let contract = self
            .contract_key
            .as_deref()
            .map(|k| format!("Contrato {k}"))
            .unwrap_or_default();
        let status = |s: &Option<String>| {
            s.as_deref()
                .map(|s| {
                    ContractStatus::from_stored(s)
                        .map(|st| st.label_pt().to_owned())
                        .unwrap_or_else(|| s.to_owned())
                })
                .unwrap_or_else(|| "—".into())
        };
        let plain = |s: &Option<String>| s.clone().unwrap_or_else(|| "sem plano".into());
        match self.kind {
            ChangeKind::CustomerCreated => "Cliente novo".into(),
            ChangeKind::CustomerRemoved => "Não veio mais do SGP".into(),
            ChangeKind::CustomerReturned => "Voltou a vir do SGP".into(),
            ChangeKind::ContractAdded => match &self.new_value {
                Some(_) => format!("{contract} adicionado ({})", status(&self.new_value)),
                None => format!("{contract} adicionado"),
            },
            ChangeKind::ContractRemoved => format!("{contract} não veio mais do SGP"),
            ChangeKind::ContractStatus => format!(
                "{contract}: {} → {}",
                status(&self.old_value),
                status(&self.new_value)
            ),
            ChangeKind::Plan => format!(
                "{contract}: {} → {}",
                plain(&self.old_value),
                plain(&self.new_value)
            ),
            ChangeKind::Details => format!(
                "Alterado: {}",
                self.new_value.as_deref().unwrap_or("dados cadastrais")
            ),
        }
    }
}

/// How many changes of each kind an import made; status changes also by
/// the status they went to (for "12 contratos suspensos, 3 reativados").
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeCounts {
    pub by_kind: Vec<(ChangeKind, u64)>,
    /// (new status name, count) of the `ContractStatus` changes.
    pub status_to: Vec<(String, u64)>,
}

impl ChangeCounts {
    pub fn of(&self, kind: ChangeKind) -> u64 {
        self.by_kind
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn total(&self) -> u64 {
        self.by_kind.iter().map(|(_, n)| n).sum()
    }

    /// "12 contratos suspensos, 3 reativados, 2 mudaram de plano"; `None`
    /// when nothing changed.
    pub fn summary_pt(&self) -> Option<String> {
        let mut parts = Vec::new();
        for kind in ChangeKind::ALL {
            let n = self.of(kind);
            if n == 0 {
                continue;
            }
            if kind == ChangeKind::ContractStatus {
                parts.extend(self.status_parts());
            } else {
                parts.push(kind.count_pt(n));
            }
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }

    /// The status changes by where they went: suspended, reactivated,
    /// cancelled by name, the rest together.
    fn status_parts(&self) -> Vec<String> {
        let (mut suspended, mut active, mut cancelled, mut other) = (0, 0, 0, 0);
        for (to, n) in &self.status_to {
            match ContractStatus::from_stored(to) {
                Some(ContractStatus::Suspended) => suspended += n,
                Some(ContractStatus::Active) => active += n,
                Some(ContractStatus::Cancelled) => cancelled += n,
                _ => other += n,
            }
        }
        let mut parts = Vec::new();
        let mut first = true;
        let mut push = |n: u64, one: &str, many: &str| {
            if n == 0 {
                return;
            }
            let noun = match (first, n == 1) {
                (true, true) => "contrato ",
                (true, false) => "contratos ",
                _ => "",
            };
            first = false;
            let word = if n == 1 { one } else { many };
            parts.push(format!("{} {noun}{word}", thousands(n)));
        };
        push(suspended, "suspenso", "suspensos");
        push(active, "reativado", "reativados");
        push(cancelled, "cancelado", "cancelados");
        push(other, "com outro status", "com outro status");
        parts
    }
}

/// A page of an import's changes, with the counts of all of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangePage {
    pub changes: Vec<CustomerChange>,
    /// How many match the filter.
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
    pub counts: ChangeCounts,
}

/// 12345 → "12.345": whole numbers as Brazilian admins read them (the
/// pages' `format::integer` is this one).
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(by_kind: &[(ChangeKind, u64)], status_to: &[(&str, u64)]) -> ChangeCounts {
        ChangeCounts {
            by_kind: by_kind.to_vec(),
            status_to: status_to.iter().map(|(s, n)| (s.to_string(), *n)).collect(),
        }
    }

    #[test]
    fn kinds_read_back_from_their_names() {
        for k in ChangeKind::ALL {
            assert_eq!(ChangeKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(ChangeKind::parse("outro"), None);
    }

    #[test]
    fn counts_read_as_the_admins_say_them() {
        let c = counts(
            &[(ChangeKind::ContractStatus, 15), (ChangeKind::Plan, 2)],
            &[("suspenso", 12), ("ativo", 3)],
        );
        assert_eq!(
            c.summary_pt().as_deref(),
            Some("12 contratos suspensos, 3 reativados, 2 mudaram de plano")
        );
        let c = counts(
            &[
                (ChangeKind::CustomerCreated, 1234),
                (ChangeKind::CustomerRemoved, 1),
                (ChangeKind::ContractStatus, 1),
            ],
            &[("cancelado", 1)],
        );
        assert_eq!(
            c.summary_pt().as_deref(),
            Some("1.234 clientes novos, 1 cliente removido do SGP, 1 contrato cancelado")
        );
        assert_eq!(ChangeCounts::default().summary_pt(), None);
    }

    #[test]
    fn a_status_change_names_both_statuses() {
        let change = CustomerChange {
            id: 1,
            job_id: JobId::new(),
            customer_id: 1,
            customer_key: "7".into(),
            customer_name: "Ana".into(),
            kind: ChangeKind::ContractStatus,
            contract_key: Some("1002".into()),
            old_value: Some("ativo".into()),
            new_value: Some("suspenso".into()),
            at: Utc::now(),
        };
        assert_eq!(change.describe_pt(), "Contrato 1002: Ativo → Suspenso");
    }
}
