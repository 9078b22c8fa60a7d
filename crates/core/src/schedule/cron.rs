//! Cron expressions in Brasília time: parsing with a Portuguese message,
//! the next slot, and the shortest gap between slots.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use crate::import::FieldError;

/// Schedules are read in the providers' time zone, whatever the server's.
pub const TIME_ZONE: Tz = chrono_tz::America::Sao_Paulo;

/// Longest expression accepted, in characters.
const MAX_CHARS: usize = 100;

/// Slots looked at when measuring how often a schedule runs: enough to see
/// every gap of an hourly expression over four days, and a daily one's
/// gaps over three months.
const GAP_SAMPLES: usize = 100;

#[derive(Clone, Debug)]
pub struct CronSchedule {
    cron: croner::Cron,
}

impl CronSchedule {
    /// Five fields: minute, hour, day of the month, month, day of the week.
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        let text = text.trim();
        crate::text::check("cron", "expressão cron", text, false)?;
        let invalid = |detail: &str| {
            FieldError::new(
                "cron",
                format!(
                    "Expressão cron inválida{detail}. Use cinco campos: minuto, hora, dia do mês, \
                     mês e dia da semana (por exemplo, \"0 2 * * *\" para todos os dias às 02:00)."
                ),
            )
        };
        if text.is_empty() {
            return Err(FieldError::new(
                "cron",
                "Informe quando a sincronização deve rodar (expressão cron).",
            ));
        }
        if text.chars().count() > MAX_CHARS {
            return Err(invalid(&format!(": tem mais de {MAX_CHARS} caracteres")));
        }
        let fields = text.split_whitespace().count();
        if fields != 5 {
            return Err(invalid(&format!(": tem {fields} campos em vez de 5")));
        }
        let cron = croner::Cron::new(text).parse().map_err(|_| invalid(""))?;
        let schedule = CronSchedule { cron };
        if schedule.next_after(Utc::now()).is_none() {
            return Err(FieldError::new(
                "cron",
                "Essa expressão cron nunca acontece (por exemplo, 30 de fevereiro). Revise o dia e o mês.",
            ));
        }
        Ok(schedule)
    }

    /// The first slot strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&t.with_timezone(&TIME_ZONE), false)
            .ok()
            .map(|n| n.with_timezone(&Utc))
    }

    /// The shortest time between two consecutive slots after `from`.
    pub fn shortest_gap(&self, from: DateTime<Utc>) -> Option<Duration> {
        let mut previous = self.next_after(from)?;
        let mut shortest: Option<Duration> = None;
        for _ in 0..GAP_SAMPLES {
            let Some(next) = self.next_after(previous) else {
                break;
            };
            let gap = next - previous;
            shortest = Some(shortest.map_or(gap, |s| s.min(gap)));
            previous = next;
        }
        shortest
    }

    /// Refuses an expression that would run more often than `minimum`.
    pub fn check_interval(&self, minimum: Duration, now: DateTime<Utc>) -> Result<(), FieldError> {
        match self.shortest_gap(now) {
            Some(gap) if gap < minimum => Err(FieldError::new(
                "cron",
                format!(
                    "Essa expressão roda a cada {}; o intervalo mínimo entre sincronizações é de \
                     {} minutos.",
                    describe_minutes(gap.num_minutes()),
                    minimum.num_minutes()
                ),
            )),
            _ => Ok(()),
        }
    }
}

fn describe_minutes(minutes: i64) -> String {
    match minutes {
        0 => "menos de um minuto".to_owned(),
        1 => "1 minuto".to_owned(),
        n => format!("{n} minutos"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn reads_the_expression_in_brasilia_time() {
        let daily = CronSchedule::parse("0 2 * * *").unwrap();
        // 02:00 in São Paulo is 05:00 UTC (no daylight saving since 2019)
        assert_eq!(
            daily.next_after(at("2026-12-01T19:00:00Z")),
            Some(at("2026-12-02T05:00:00Z"))
        );
        // strictly after: a slot is not its own next
        assert_eq!(
            daily.next_after(at("2026-12-02T05:00:00Z")),
            Some(at("2026-12-03T05:00:00Z"))
        );
    }

    #[test]
    fn explains_what_is_wrong_in_portuguese() {
        for (text, needle) in [
            ("", "Informe quando"),
            ("0 2 * *", "tem 4 campos em vez de 5"),
            ("0 0 2 * * *", "tem 6 campos"),
            ("61 2 * * *", "Expressão cron inválida"),
            ("0 2 * * segunda", "Expressão cron inválida"),
            ("0 0 30 2 *", "nunca acontece"),
            ("0 2 * * *\u{0}", "caracteres de controle"),
        ] {
            let e = CronSchedule::parse(text).unwrap_err();
            assert_eq!(e.field, "cron");
            assert!(e.message.contains(needle), "{text:?}: {}", e.message);
        }
    }

    #[test]
    fn measures_the_shortest_gap() {
        let now = at("2026-12-01T12:00:00Z");
        let every_5 = CronSchedule::parse("*/5 * * * *").unwrap();
        assert_eq!(every_5.shortest_gap(now), Some(Duration::minutes(5)));
        let e = every_5
            .check_interval(Duration::minutes(15), now)
            .unwrap_err();
        assert!(e.message.contains("a cada 5 minutos"), "{}", e.message);
        assert!(e.message.contains("mínimo"), "{}", e.message);
        // two runs close together once a day are caught too
        let twice = CronSchedule::parse("0,10 2 * * *").unwrap();
        assert!(twice.check_interval(Duration::minutes(15), now).is_err());
        let every_12h = CronSchedule::parse("0 */12 * * *").unwrap();
        assert!(every_12h.check_interval(Duration::minutes(15), now).is_ok());
        assert!(every_5.check_interval(Duration::minutes(1), now).is_ok());
    }
}
