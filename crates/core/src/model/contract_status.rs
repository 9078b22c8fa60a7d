//! Contract statuses: SGP's codes and display names, the names stored in
//! `contracts.status`, and the labels the pages show.

use serde::Serialize;

/// SGP's contract statuses, with the codes its `contrato_status` filter takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContractStatus {
    Active,
    Inactive,
    Cancelled,
    Suspended,
    TechnicallyUnfeasible,
    New,
    ActiveReducedSpeed,
    Unknown,
}

impl ContractStatus {
    pub const ALL: [ContractStatus; 7] = [
        ContractStatus::Active,
        ContractStatus::Inactive,
        ContractStatus::Cancelled,
        ContractStatus::Suspended,
        ContractStatus::TechnicallyUnfeasible,
        ContractStatus::New,
        ContractStatus::ActiveReducedSpeed,
    ];

    /// The code for SGP's `contrato_status` filter.
    pub fn code(self) -> Option<u8> {
        Some(match self {
            ContractStatus::Active => 1,
            ContractStatus::Inactive => 2,
            ContractStatus::Cancelled => 3,
            ContractStatus::Suspended => 4,
            ContractStatus::TechnicallyUnfeasible => 5,
            ContractStatus::New => 6,
            ContractStatus::ActiveReducedSpeed => 7,
            ContractStatus::Unknown => return None,
        })
    }

    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == Some(code))
    }

    /// SGP's display name, as in its answers.
    pub fn label(self) -> &'static str {
        match self {
            ContractStatus::Active => "Ativo",
            ContractStatus::Inactive => "Inativo",
            ContractStatus::Cancelled => "Cancelado",
            ContractStatus::Suspended => "Suspenso",
            ContractStatus::TechnicallyUnfeasible => "Inviabilidade Técnica",
            ContractStatus::New => "Novo",
            ContractStatus::ActiveReducedSpeed => "Ativo V. Reduzida",
            ContractStatus::Unknown => "Desconhecido",
        }
    }

    /// The name admins read in the pages.
    pub fn label_pt(self) -> &'static str {
        match self {
            ContractStatus::Active => "Ativo",
            ContractStatus::Inactive => "Inativo",
            ContractStatus::Cancelled => "Cancelado",
            ContractStatus::Suspended => "Suspenso",
            ContractStatus::TechnicallyUnfeasible => "Inviabilidade técnica",
            ContractStatus::New => "Novo",
            ContractStatus::ActiveReducedSpeed => "Ativo (velocidade reduzida)",
            ContractStatus::Unknown => "Desconhecida",
        }
    }

    /// The status of a stored name (`as_str`); `None` for any other text.
    pub fn from_stored(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .chain([ContractStatus::Unknown])
            .find(|s| s.as_str() == name)
    }

    /// The stored name (`contracts.status`).
    pub fn as_str(self) -> &'static str {
        match self {
            ContractStatus::Active => "ativo",
            ContractStatus::Inactive => "inativo",
            ContractStatus::Cancelled => "cancelado",
            ContractStatus::Suspended => "suspenso",
            ContractStatus::TechnicallyUnfeasible => "inviabilidade_tecnica",
            ContractStatus::New => "novo",
            ContractStatus::ActiveReducedSpeed => "ativo_reduzido",
            ContractStatus::Unknown => "desconhecido",
        }
    }

    /// Trimmed and case-insensitive: SGP pads some (`" Ativo "`).
    pub fn from_display(text: &str) -> Self {
        let t = text.trim().to_lowercase();
        let t = t.replace(['.', ' '], "");
        Self::ALL
            .into_iter()
            .find(|s| s.label().to_lowercase().replace(['.', ' '], "") == t)
            .or_else(|| {
                // numeric status codes appear in a few installations
                t.parse::<u8>().ok().and_then(Self::from_code)
            })
            .unwrap_or(ContractStatus::Unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_read_back() {
        for s in ContractStatus::ALL {
            assert_eq!(ContractStatus::from_stored(s.as_str()), Some(s));
        }
        assert_eq!(
            ContractStatus::from_stored("desconhecido"),
            Some(ContractStatus::Unknown)
        );
        assert_eq!(ContractStatus::from_stored("Ativo"), None);
        assert_eq!(ContractStatus::from_stored(""), None);
    }
}
