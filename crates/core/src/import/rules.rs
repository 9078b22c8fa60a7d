//! The import job's rules, apart from its I/O: whether another page
//! follows, when SGP is repeating itself, what the progress and the
//! checkpoint become after a page, and what the log says about it. The job
//! (`job.rs`) fetches, stores and logs; these decide.

use std::collections::HashSet;
use std::time::Duration;

use super::job::ImportCheckpoint;
use crate::model::{thousands, JobProgress, LogLevel};
use crate::sgp::{RowError, PAGE_SIZE};
use crate::store::{PageCounts, Removal};

/// Whether a page at `offset` that held `received` customers has another
/// after it: SGP's `total` says so when it sends one, else only a full page
/// can be followed by more. An empty page ends the paging either way.
pub fn has_more(offset: u64, received: u64, total: Option<u64>) -> bool {
    if received == 0 {
        return false;
    }
    match total {
        Some(total) => offset + received < total,
        None => received >= u64::from(PAGE_SIZE),
    }
}

/// A full page, past the first, made only of customers already seen on the
/// first page or the previous one: SGP ignores `offset` and would repeat
/// itself forever.
pub fn repeats_itself(
    checkpoint: &ImportCheckpoint,
    offset: u64,
    received: u64,
    keys: &[String],
) -> bool {
    if offset == 0 || received < u64::from(PAGE_SIZE) || keys.is_empty() {
        return false;
    }
    let seen: HashSet<&String> = checkpoint
        .first_keys
        .iter()
        .chain(checkpoint.last_keys.iter())
        .collect();
    keys.iter().all(|k| seen.contains(k))
}

/// The progress once a page of `received` customers is processed: the
/// total (never below what was processed), percent, the ETA from this
/// attempt's own rate (`elapsed` since it started, with
/// `processed_at_start` done before it), and the current message. The
/// counters by outcome are the caller's, once the page is stored.
pub fn progress_after(
    before: &JobProgress,
    processed_at_start: u64,
    received: u64,
    total: Option<u64>,
    elapsed: Duration,
) -> JobProgress {
    let processed = before.processed + received;
    let total = total.map(|t| t.max(processed));
    let done_here = processed.saturating_sub(processed_at_start);
    let elapsed = elapsed.as_secs_f64();
    let eta_seconds = match total {
        Some(t) if done_here > 0 && elapsed > 0.0 => {
            let rate = done_here as f64 / elapsed;
            Some(((t - processed) as f64 / rate).ceil() as u64)
        }
        _ => None,
    };
    let percent = match total {
        Some(t) if t > 0 => (processed as f64 * 100.0 / t as f64).min(100.0) as f32,
        _ => 0.0,
    };
    JobProgress {
        total_estimated: total,
        processed,
        percent,
        eta_seconds,
        message: Some(match total {
            Some(t) => format!("Importando clientes: {processed} de {t}"),
            None => format!("Importando clientes: {processed}"),
        }),
        ..before.clone()
    }
}

/// The checkpoint once the page at `offset` with these keys is stored: the
/// next page starts after it, and its keys are remembered to notice an
/// SGP that repeats itself.
pub fn next_checkpoint(
    checkpoint: &ImportCheckpoint,
    offset: u64,
    received: u64,
    keys: Vec<String>,
) -> ImportCheckpoint {
    let mut next = checkpoint.clone();
    next.offset = offset + received;
    next.pages += 1;
    if next.first_keys.is_empty() {
        next.first_keys = keys.clone();
    }
    next.last_keys = keys;
    next
}

/// Stored pages (one, or several stored together) as the job's log tells
/// them: one line with their counts, and one warning per customer that
/// could not be imported.
pub fn page_log(
    pages: std::ops::RangeInclusive<u64>,
    offset: u64,
    received: u64,
    total: Option<u64>,
    counts: &PageCounts,
    errors: &[RowError],
) -> Vec<(LogLevel, String)> {
    let pages = if pages.start() >= pages.end() {
        format!("Página {}", pages.end())
    } else {
        format!("Páginas {}–{}", pages.start(), pages.end())
    };
    let mut line = format!(
        "{pages} (clientes {}–{}{}): {} novos, {} atualizados, {} sem mudança",
        offset + 1,
        offset + received,
        total.map(|t| format!(" de {t}")).unwrap_or_default(),
        counts.created,
        counts.updated,
        counts.unchanged,
    );
    if counts.failed > 0 {
        line.push_str(&format!(", {} com erro", counts.failed));
    }
    line.push('.');
    let mut lines = vec![(LogLevel::Info, line)];
    lines.extend(errors.iter().map(|e| {
        (
            LogLevel::Warn,
            format!(
                "Cliente {} não importado: {}",
                e.key.as_deref().unwrap_or("sem chave"),
                e.reason
            ),
        )
    }));
    lines
}

/// The log line of a page whose last `unlisted` bad rows went past the
/// job's error report (`cap` rows): counted, not listed.
pub fn unlisted_errors_line(unlisted: u64, cap: u64) -> (LogLevel, String) {
    (
        LogLevel::Warn,
        format!(
            "Mais {} clientes não importados nesta página, contados mas não listados: o \
             relatório de erros guarda os primeiros {} de cada importação.",
            thousands(unlisted),
            thousands(cap)
        ),
    )
}

/// The progress of a finished import: 100 %, no ETA, and a current message
/// that says it is done (the dashboard shows it in place of the last page's
/// "Importando clientes: N de N").
pub fn completed(progress: &JobProgress) -> JobProgress {
    let p = progress;
    JobProgress {
        percent: 100.0,
        eta_seconds: None,
        message: Some(format!(
            "Concluída: {} clientes — {} novos, {} atualizados, {} sem mudança, {} com erro",
            p.processed, p.created, p.updated, p.unchanged, p.failed
        )),
        ..p.clone()
    }
}

/// Adds a speed sample after a page; past `SPEED_SAMPLES`, every other
/// one goes (the first stays), so the chart spans the whole import with
/// a bounded checkpoint.
pub fn sample_speed(samples: &mut Vec<[u64; 2]>, at_ms: u64, processed: u64) {
    samples.push([at_ms, processed]);
    if samples.len() > super::job::SPEED_SAMPLES {
        let mut i = 0;
        samples.retain(|_| {
            i += 1;
            i % 2 == 1
        });
    }
}

/// Customers per second between consecutive samples: `(seconds since the
/// first sample, rate)` for each span with time in it.
pub fn speeds(samples: &[[u64; 2]]) -> Vec<(f64, f64)> {
    let Some(first) = samples.first() else {
        return Vec::new();
    };
    samples
        .windows(2)
        .filter_map(|w| {
            let (dt, dp) = (w[1][0].checked_sub(w[0][0])?, w[1][1].checked_sub(w[0][1])?);
            (dt > 0).then(|| {
                (
                    (w[1][0] - first[0]) as f64 / 1000.0,
                    dp as f64 * 1000.0 / dt as f64,
                )
            })
        })
        .collect()
}

/// What the log says after the end-of-import sweep: what was marked, or
/// why nothing was (the guard), or nothing at all when SGP lost no one.
pub fn removal_log(removal: &Removal, max_percent: u32) -> (LogLevel, Option<String>) {
    let r = removal;
    if !r.marked && !Removal::over(r.customers, r.present, max_percent) {
        let share = r.contracts as f64 * 100.0 / (r.contracts_present.max(1)) as f64;
        return (
            LogLevel::Warn,
            Some(format!(
                "{} de {} contratos ({share:.1} %) não vieram do SGP, mais que o limite de \
                 {max_percent} %. Nenhum cliente ou contrato foi marcado como removido: confira o \
                 SGP e, se as saídas forem reais, use \"Confirmar remoções\" nos detalhes desta \
                 importação.",
                r.contracts, r.contracts_present
            )),
        );
    }
    if !r.marked {
        let share = r.customers as f64 * 100.0 / (r.present.max(1)) as f64;
        return (
            LogLevel::Warn,
            Some(format!(
                "{} de {} clientes ({share:.1} %) não vieram do SGP, mais que o limite de \
                 {max_percent} %. Nenhum foi marcado como removido: confira o SGP e, se as saídas \
                 forem reais, use \"Confirmar remoções\" nos detalhes desta importação.",
                r.customers, r.present
            )),
        );
    }
    if r.customers + r.contracts == 0 {
        return (LogLevel::Info, None);
    }
    (
        LogLevel::Info,
        Some(format!(
            "Não vieram mais do SGP e foram marcados como removidos: {} clientes e {} contratos.",
            r.customers, r.contracts
        )),
    )
}

#[cfg(test)]
mod speed_tests {
    use super::*;

    #[test]
    fn samples_stay_bounded_and_rates_read_between_them() {
        let mut s = Vec::new();
        for i in 0..500u64 {
            sample_speed(&mut s, 1_000 + i * 100, i * 100);
        }
        assert!(s.len() <= crate::import::job::SPEED_SAMPLES);
        assert_eq!(s[0], [1_000, 0], "the first sample stays");
        // 100 customers every 100 ms, however thinned
        for (_, rate) in speeds(&s) {
            assert!((rate - 1000.0).abs() < 1e-9, "{rate}");
        }
        assert_eq!(speeds(&[[5, 1], [5, 9]]), vec![], "no time, no rate");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(range: std::ops::Range<u32>) -> Vec<String> {
        range.map(|i| i.to_string()).collect()
    }

    #[test]
    fn paging_goes_on_while_sgp_says_there_is_more() {
        assert!(has_more(0, 100, Some(250)));
        assert!(has_more(100, 100, Some(250)));
        assert!(!has_more(200, 50, Some(250)));
        assert!(!has_more(200, 100, Some(300)), "exactly the total");
        // no total: a full page may have more, a short one has not
        assert!(has_more(0, 100, None));
        assert!(!has_more(0, 99, None));
        // an empty page ends it, whatever the total claims
        assert!(!has_more(300, 0, Some(1000)));
        // an SGP that sends more than asked is followed by its total
        assert!(has_more(0, 1000, Some(1500)));
    }

    #[test]
    fn a_full_page_of_customers_already_seen_is_sgp_repeating_itself() {
        let first = next_checkpoint(&ImportCheckpoint::default(), 0, 100, keys(0..100));
        assert_eq!(first.offset, 100);
        assert_eq!(first.pages, 1);
        assert_eq!(first.first_keys, keys(0..100));
        // the first page again at offset 100: repeating
        assert!(repeats_itself(&first, 100, 100, &keys(0..100)));
        // new customers: not
        assert!(!repeats_itself(&first, 100, 100, &keys(100..200)));
        // a page that mixes old and new is SGP's order shifting, not a loop
        assert!(!repeats_itself(&first, 100, 100, &keys(50..150)));
        // the first page itself, a short page, or none: never
        assert!(!repeats_itself(&first, 0, 100, &keys(0..100)));
        assert!(!repeats_itself(&first, 100, 40, &keys(0..40)));
        assert!(!repeats_itself(&first, 100, 100, &[]));
        // the previous page repeated (SGP stuck at the end) also counts
        let second = next_checkpoint(&first, 100, 100, keys(100..200));
        assert_eq!(second.first_keys, keys(0..100), "the first page is kept");
        assert_eq!(second.last_keys, keys(100..200));
        assert!(repeats_itself(&second, 200, 100, &keys(100..200)));
    }

    #[test]
    fn progress_counts_percent_and_eta_from_this_attempts_rate() {
        let before = JobProgress {
            processed: 200,
            created: 150,
            ..JobProgress::default()
        };
        // resumed at 100: 200 more in 10 s is 20/s; 700 left is 35 s
        let p = progress_after(&before, 100, 100, Some(1000), Duration::from_secs(10));
        assert_eq!(p.processed, 300);
        assert_eq!(p.total_estimated, Some(1000));
        assert_eq!(p.percent, 30.0);
        assert_eq!(p.eta_seconds, Some(35));
        assert_eq!(
            p.message.as_deref(),
            Some("Importando clientes: 300 de 1000")
        );
        assert_eq!(p.created, 150, "outcome counters are the caller's");
        // a total below what came is raised to it; percent stays at 100
        let p = progress_after(&before, 0, 100, Some(250), Duration::from_secs(1));
        assert_eq!((p.total_estimated, p.percent), (Some(300), 100.0));
        assert_eq!(p.eta_seconds, Some(0));
        // no total: no percent, no ETA
        let p = progress_after(&before, 0, 100, None, Duration::from_secs(1));
        assert_eq!((p.percent, p.eta_seconds), (0.0, None));
        assert_eq!(p.message.as_deref(), Some("Importando clientes: 300"));
        // no time yet: no rate, no ETA
        let p = progress_after(&before, 0, 100, Some(1000), Duration::ZERO);
        assert_eq!(p.eta_seconds, None);
    }

    #[test]
    fn a_page_is_told_in_one_line_and_each_failed_customer_in_another() {
        let counts = PageCounts {
            created: 90,
            updated: 5,
            unchanged: 3,
            failed: 2,
        };
        let errors = vec![
            RowError {
                key: Some("1024".into()),
                reason: "CPF/CNPJ com dígitos verificadores inválidos".into(),
            },
            RowError {
                key: None,
                reason: "cliente sem id e sem CPF/CNPJ".into(),
            },
        ];
        let lines = page_log(2..=2, 100, 100, Some(250), &counts, &errors);
        assert_eq!(
            lines,
            vec![
                (
                    LogLevel::Info,
                    "Página 2 (clientes 101–200 de 250): 90 novos, 5 atualizados, 3 sem \
                     mudança, 2 com erro."
                        .to_owned()
                ),
                (
                    LogLevel::Warn,
                    "Cliente 1024 não importado: CPF/CNPJ com dígitos verificadores inválidos"
                        .to_owned()
                ),
                (
                    LogLevel::Warn,
                    "Cliente sem chave não importado: cliente sem id e sem CPF/CNPJ".to_owned()
                ),
            ]
        );
        let clean = PageCounts {
            created: 50,
            ..PageCounts::default()
        };
        let lines = page_log(1..=1, 0, 50, None, &clean, &[]);
        assert_eq!(
            lines,
            vec![(
                LogLevel::Info,
                "Página 1 (clientes 1–50): 50 novos, 0 atualizados, 0 sem mudança.".to_owned()
            )]
        );
        // pages stored together
        let lines = page_log(3..=6, 200, 400, Some(1000), &clean, &[]);
        assert_eq!(
            lines[0].1,
            "Páginas 3–6 (clientes 201–600 de 1000): 50 novos, 0 atualizados, 0 sem mudança."
        );
    }

    #[test]
    fn a_finished_import_says_it_is_done() {
        let p = JobProgress {
            processed: 250,
            created: 240,
            updated: 4,
            unchanged: 1,
            failed: 5,
            percent: 99.0,
            eta_seconds: Some(3),
            total_estimated: Some(250),
            message: Some("Importando clientes: 250 de 250".into()),
        };
        let done = completed(&p);
        assert_eq!((done.percent, done.eta_seconds), (100.0, None));
        assert_eq!(
            done.message.as_deref(),
            Some("Concluída: 250 clientes — 240 novos, 4 atualizados, 1 sem mudança, 5 com erro")
        );
        assert_eq!(done.processed, 250);
    }
}
