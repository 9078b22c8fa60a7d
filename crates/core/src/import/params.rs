//! What an admin asks of an import. Stored as the job's parameters, so it
//! never holds a secret: the job reads the provider's integration itself.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// A problem with one field of a form, for the UI to show next to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The field's name in the API (`nome_importacao`, `data_cadastro_fim`...).
    pub field: String,
    /// In Portuguese.
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        FieldError {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportParams {
    pub name: String,
    /// Only customers with an active contract (SGP `contrato_status=1`).
    pub only_active: bool,
    pub signup_from: Option<NaiveDate>,
    pub signup_to: Option<NaiveDate>,
    /// Only what changed since the last successful import.
    pub incremental: bool,
    /// Resolved when the import is queued: the day of the last successful
    /// import's start (SGP's change filter takes whole days). `None` on an
    /// incremental import means there was none, so everything is fetched.
    #[serde(default)]
    pub changed_since: Option<NaiveDate>,
}

pub const MAX_NAME_CHARS: usize = 120;

impl ImportParams {
    /// Every customer, no filter.
    pub fn everything(name: impl Into<String>) -> Self {
        ImportParams {
            name: name.into(),
            only_active: false,
            signup_from: None,
            signup_to: None,
            incremental: false,
            changed_since: None,
        }
    }

    /// Every customer SGP has, in one pass: only such an import can tell
    /// which stored customers left SGP.
    pub fn is_complete(&self) -> bool {
        !self.only_active
            && self.signup_from.is_none()
            && self.signup_to.is_none()
            && !self.incremental
    }

    /// The name of an import started without one, as the original system
    /// names them: "Importação de 01/12/2026 20:45" (Brasília time).
    pub fn default_name(now: chrono::DateTime<chrono::Utc>) -> String {
        format!(
            "Importação de {}",
            now.with_timezone(&crate::schedule::TIME_ZONE)
                .format("%d/%m/%Y %H:%M")
        )
    }

    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = self.name.trim();
        // an empty name is allowed: the import gets a dated one when queued
        if let Err(e) = crate::text::check("nome_importacao", "nome da importação", name, false) {
            errors.push(e);
        } else if name.chars().count() > MAX_NAME_CHARS {
            errors.push(FieldError::new(
                "nome_importacao",
                format!("O nome pode ter até {MAX_NAME_CHARS} caracteres."),
            ));
        }
        errors.extend(signup_range_errors(self.signup_from, self.signup_to));
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The filters in words, for the job's log.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        parts.push(if self.only_active {
            "só contratos ativos".to_owned()
        } else {
            "todos os contratos".to_owned()
        });
        let fmt = |d: NaiveDate| d.format("%d/%m/%Y").to_string();
        match (self.signup_from, self.signup_to) {
            (Some(f), Some(t)) => parts.push(format!("cadastro de {} a {}", fmt(f), fmt(t))),
            (Some(f), None) => parts.push(format!("cadastro a partir de {}", fmt(f))),
            (None, Some(t)) => parts.push(format!("cadastro até {}", fmt(t))),
            (None, None) => {}
        }
        if self.incremental {
            parts.push(match self.changed_since {
                Some(d) => format!("alterados desde {}", fmt(d)),
                None => "incremental (sem importação anterior: tudo)".to_owned(),
            });
        }
        parts.join(", ")
    }
}

/// What is wrong with a sign-up date filter: a day outside 1970–2100 (a
/// mistyped year: SGP answers an empty list, or a reversed range when only
/// the end is given, as it is asked from 1970-01-01) or an end before the
/// start. Imports and schedules share it.
pub fn signup_range_errors(from: Option<NaiveDate>, to: Option<NaiveDate>) -> Vec<FieldError> {
    let first = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date");
    let last = NaiveDate::from_ymd_opt(2100, 12, 31).expect("a valid date");
    let mut errors = Vec::new();
    for (field, day) in [("data_cadastro_inicio", from), ("data_cadastro_fim", to)] {
        if day.is_some_and(|d| d < first || d > last) {
            errors.push(FieldError::new(
                field,
                "A data do cadastro deve estar entre 01/01/1970 e 31/12/2100 (confira o ano).",
            ));
        }
    }
    if let (Some(from), Some(to)) = (from, to) {
        if from > to {
            errors.push(FieldError::new(
                "data_cadastro_fim",
                "A data final do cadastro é anterior à data inicial.",
            ));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signup_days_outside_any_isp_are_named() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d);
        assert!(signup_range_errors(day(2018, 1, 1), day(2020, 12, 31)).is_empty());
        assert!(signup_range_errors(None, day(1970, 1, 1)).is_empty());
        let typo = signup_range_errors(None, day(24, 5, 1));
        assert_eq!(typo.len(), 1);
        assert_eq!(typo[0].field, "data_cadastro_fim");
        assert!(typo[0].message.contains("confira o ano"));
        let far = signup_range_errors(day(2204, 1, 1), None);
        assert_eq!(far[0].field, "data_cadastro_inicio");
        let reversed = signup_range_errors(day(2020, 1, 1), day(2019, 1, 1));
        assert!(reversed[0].message.contains("anterior"));
    }

    fn params() -> ImportParams {
        ImportParams {
            name: "Importação de teste".into(),
            only_active: true,
            signup_from: NaiveDate::from_ymd_opt(2024, 1, 1),
            signup_to: NaiveDate::from_ymd_opt(2024, 12, 31),
            incremental: false,
            changed_since: None,
        }
    }

    #[test]
    fn names_the_field_of_each_problem() {
        assert!(params().validate().is_ok());
        let mut p = params();
        p.name = "a\u{0}b".into();
        p.signup_from = NaiveDate::from_ymd_opt(2025, 1, 1);
        let errors = p.validate().unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["nome_importacao", "data_cadastro_fim"]);
        p.name = "  ".into();
        p.signup_from = None;
        assert!(p.validate().is_ok(), "a name is optional");
        p.name = "x".repeat(121);
        assert!(p.validate().unwrap_err()[0].message.contains("120"));
    }

    #[test]
    fn describes_the_filters() {
        assert_eq!(
            params().describe(),
            "só contratos ativos, cadastro de 01/01/2024 a 31/12/2024"
        );
    }
}
