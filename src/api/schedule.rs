//! Server functions of the automatic sync, and the presets the page offers
//! in place of a cron expression ("Diariamente às HH:MM", "A cada N
//! horas"), shared by the page (which finds the preset of a saved
//! expression) and the server (which turns the chosen one into cron).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use server_fn::codec::Postcard;

use super::error::UiError;
use crate::model::ScheduleView;

/// The "a cada N horas" choices: the divisors of 24, so every day has the
/// same slots.
pub const HOUR_STEPS: [u32; 7] = [1, 2, 3, 4, 6, 8, 12];

/// How the page shows a cron expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    Daily { hour: u32, minute: u32 },
    EveryHours(u32),
    Custom,
}

impl Preset {
    /// The preset a saved expression matches, or `Custom`.
    pub fn of(cron: &str) -> Preset {
        let fields: Vec<&str> = cron.split_whitespace().collect();
        let number = |s: &str, max: u32| s.parse::<u32>().ok().filter(|n| *n <= max);
        match fields.as_slice() {
            ["0", "*", "*", "*", "*"] => Preset::EveryHours(1),
            ["0", hours, "*", "*", "*"] if hours.starts_with("*/") => {
                match number(&hours[2..], 23) {
                    Some(n) if HOUR_STEPS.contains(&n) => Preset::EveryHours(n),
                    _ => Preset::Custom,
                }
            }
            [m, h, "*", "*", "*"] => match (number(m, 59), number(h, 23)) {
                (Some(minute), Some(hour)) => Preset::Daily { hour, minute },
                _ => Preset::Custom,
            },
            _ => Preset::Custom,
        }
    }

    /// The cron expression of a preset (`None` for `Custom`).
    pub fn cron(self) -> Option<String> {
        match self {
            Preset::Daily { hour, minute } => Some(format!("{minute} {hour} * * *")),
            Preset::EveryHours(1) => Some("0 * * * *".to_owned()),
            Preset::EveryHours(n) => Some(format!("0 */{n} * * *")),
            Preset::Custom => None,
        }
    }

    /// The form's `modo`.
    pub fn mode(self) -> &'static str {
        match self {
            Preset::Daily { .. } => "diario",
            Preset::EveryHours(_) => "horas",
            Preset::Custom => "personalizado",
        }
    }
}

/// The form as the browser posts it (every field text, as a native post
/// sends it; unchecked boxes and hidden fields are absent).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScheduleForm {
    pub active: Option<String>,
    /// `diario`, `horas` or `personalizado`.
    pub mode: String,
    /// `HH:MM`, for `diario`.
    pub time: Option<String>,
    /// For `horas`.
    pub hours: Option<String>,
    /// For `personalizado`.
    pub cron: Option<String>,
    pub incremental: Option<String>,
    pub only_active: Option<String>,
    /// `AAAA-MM-DD` or empty.
    pub signup_from: Option<String>,
    pub signup_to: Option<String>,
    pub pause_after_failures: String,
}

/// The schedule with what the page needs to explain it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScheduleScreen {
    pub view: ScheduleView,
    pub min_interval_minutes: u32,
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use super::{Preset, ScheduleForm, HOUR_STEPS};
    use crate::model::ScheduleInput;
    use sgp_import_core::import::FieldError;

    /// The field of the form where a problem with the expression shows:
    /// the preset's own field when the admin did not type cron.
    pub fn cron_field(mode: &str) -> &'static str {
        match mode {
            "diario" => "horario",
            "horas" => "intervalo_horas",
            _ => "cron",
        }
    }

    /// Where a field of the schedule service shows on this form (its ids
    /// differ from the import form's on the same page).
    pub fn form_field(field: &str, mode: &str) -> String {
        match field {
            "cron" => cron_field(mode).to_owned(),
            "data_cadastro_inicio" => "agenda_cadastro_inicio".to_owned(),
            "data_cadastro_fim" => "agenda_cadastro_fim".to_owned(),
            other => other.to_owned(),
        }
    }

    fn date(
        value: &Option<String>,
        field: &str,
        errors: &mut Vec<FieldError>,
    ) -> Option<chrono::NaiveDate> {
        let text = value.as_deref().map(str::trim).filter(|t| !t.is_empty())?;
        match chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                errors.push(FieldError::new(
                    field,
                    "Data inválida; use o seletor de data.",
                ));
                None
            }
        }
    }

    /// Reads the form; each unreadable field is named.
    pub fn input(form: &ScheduleForm) -> Result<ScheduleInput, Vec<FieldError>> {
        let mut errors = Vec::new();
        let cron = match form.mode.as_str() {
            "diario" => {
                let time = form.time.clone().unwrap_or_default();
                let parsed = time
                    .trim()
                    .split_once(':')
                    .and_then(|(h, m)| Some((h.parse::<u32>().ok()?, m.parse::<u32>().ok()?)));
                match parsed {
                    Some((hour, minute)) if hour < 24 && minute < 60 => {
                        Preset::Daily { hour, minute }.cron()
                    }
                    _ => {
                        errors.push(FieldError::new(
                            "horario",
                            "Informe o horário no formato HH:MM (por exemplo, 02:00).",
                        ));
                        None
                    }
                }
            }
            "horas" => match form.hours.as_deref().and_then(|h| h.trim().parse().ok()) {
                Some(n) if HOUR_STEPS.contains(&n) => Preset::EveryHours(n).cron(),
                _ => {
                    errors.push(FieldError::new(
                        "intervalo_horas",
                        "Escolha de quantas em quantas horas a sincronização roda.",
                    ));
                    None
                }
            },
            "personalizado" => Some(form.cron.clone().unwrap_or_default()),
            _ => {
                errors.push(FieldError::new(
                    "modo",
                    "Escolha quando a sincronização roda.",
                ));
                None
            }
        };
        let pause_after_failures = match form.pause_after_failures.trim().parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                errors.push(FieldError::new(
                    "pausar_apos_falhas",
                    "Informe um número de falhas seguidas (de 1 a 100).",
                ));
                0
            }
        };
        let signup_from = date(&form.signup_from, "agenda_cadastro_inicio", &mut errors);
        let signup_to = date(&form.signup_to, "agenda_cadastro_fim", &mut errors);
        match cron {
            Some(cron) if errors.is_empty() => Ok(ScheduleInput {
                active: form.active.is_some(),
                cron,
                incremental: form.incremental.is_some(),
                only_active: form.only_active.is_some(),
                signup_from,
                signup_to,
                pause_after_failures,
            }),
            _ => Err(errors),
        }
    }
}

#[server(endpoint = "schedule", output = Postcard)]
pub async fn get_schedule() -> Result<ScheduleScreen, UiError> {
    use super::session::caller;
    use crate::server::services::schedule;

    let (state, p) = caller().await?;
    Ok(ScheduleScreen {
        view: schedule::get(&state, &p).await?,
        min_interval_minutes: schedule::min_interval_minutes(&state),
    })
}

#[server(endpoint = "save_schedule", output = Postcard)]
pub async fn save_schedule(form: ScheduleForm) -> Result<ScheduleScreen, UiError> {
    use super::session::caller;
    use crate::server::services::{schedule, ServiceError};

    let (state, p) = caller().await?;
    let input = ssr::input(&form).map_err(ServiceError::Invalid)?;
    let view = match schedule::save(&state, &p, input).await {
        Err(ServiceError::Invalid(mut errors)) => {
            for e in &mut errors {
                e.field = ssr::form_field(&e.field, &form.mode);
            }
            return Err(ServiceError::Invalid(errors).into());
        }
        other => other?,
    };
    Ok(ScheduleScreen {
        view,
        min_interval_minutes: schedule::min_interval_minutes(&state),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_expressions_show_as_their_preset() {
        assert_eq!(
            Preset::of("0 2 * * *"),
            Preset::Daily { hour: 2, minute: 0 }
        );
        assert_eq!(
            Preset::of("30 23 * * *"),
            Preset::Daily {
                hour: 23,
                minute: 30
            }
        );
        assert_eq!(Preset::of("0 */6 * * *"), Preset::EveryHours(6));
        assert_eq!(Preset::of("0 * * * *"), Preset::EveryHours(1));
        assert_eq!(Preset::of("0 */5 * * *"), Preset::Custom);
        assert_eq!(Preset::of("0 2 * * 1-5"), Preset::Custom);
        assert_eq!(Preset::of("*/30 * * * *"), Preset::Custom);
        for p in [
            Preset::Daily {
                hour: 4,
                minute: 15,
            },
            Preset::EveryHours(12),
            Preset::EveryHours(1),
        ] {
            assert_eq!(Preset::of(&p.cron().unwrap()), p);
        }
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn the_form_names_each_unreadable_field() {
        let form = ScheduleForm {
            active: Some("on".into()),
            mode: "diario".into(),
            time: Some("25:00".into()),
            pause_after_failures: "três".into(),
            ..ScheduleForm::default()
        };
        let errors = ssr::input(&form).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["horario", "pausar_apos_falhas"]);
        let ok = ScheduleForm {
            time: Some("02:30".into()),
            pause_after_failures: "3".into(),
            incremental: Some("on".into()),
            ..form
        };
        let input = ssr::input(&ok).unwrap();
        assert_eq!(input.cron, "30 2 * * *");
        assert!(input.active && input.incremental && !input.only_active);
    }
}
