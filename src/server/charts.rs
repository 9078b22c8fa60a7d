//! Charts as SVG text, drawn on the server: the browser only places the
//! markup, so no charting code travels in the WASM bundle. Every chart has
//! a title and a description for screen readers; every bar is focusable,
//! with its numbers in a `<title>` (hover) and in a label that CSS shows on
//! focus. Only numbers and fixed Portuguese words go in today; every text
//! is escaped all the same, so a caller with a tenant's words stays safe.

use std::fmt::Write;

use crate::server::markup::escape;

/// One stack of a bar chart: a label under it and one value per series.
pub struct Bar {
    pub label: String,
    /// Longer words for the bar's title ("01/12/2026").
    pub title: String,
    pub values: Vec<f64>,
}

/// A series: its name and its CSS class (the colour lives in the style).
pub struct Series {
    pub name: &'static str,
    pub class: &'static str,
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 12.0;

/// Stacked bars with a legend, `id` naming the chart's title and
/// description for `aria-labelledby`. `unit` follows each number.
pub fn stacked_bars(
    id: &str,
    title: &str,
    description: &str,
    series: &[Series],
    bars: &[Bar],
    unit: &str,
    label_every: usize,
) -> String {
    // every text goes in escaped, whoever calls (today: fixed words,
    // dates and numbers)
    let (id, title, description) = (escape(id), escape(title), escape(description));
    let max = bars
        .iter()
        .map(|b| b.values.iter().sum::<f64>())
        .fold(0.0, f64::max);
    let top = nice_ceiling(max);
    let plot_w = WIDTH - LEFT - 8.0;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let slot = plot_w / bars.len().max(1) as f64;
    let bar_w = (slot * 0.7).max(1.0);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {h}" role="img" aria-labelledby="{id}-t {id}-d" data-chart="{id}"><title id="{id}-t">{title}</title><desc id="{id}-d">{description}</desc>"#,
        h = HEIGHT + 22.0,
    );
    // horizontal guides at 0, half and the top
    for step in [0.0, 0.5, 1.0] {
        let y = TOP + plot_h * (1.0 - step);
        let _ = write!(
            svg,
            r#"<line class="chart-grid" x1="{LEFT}" x2="{x2}" y1="{y:.1}" y2="{y:.1}"/><text class="chart-axis" x="{x}" y="{ty:.1}" text-anchor="end">{v}</text>"#,
            x2 = WIDTH - 8.0,
            x = LEFT - 6.0,
            ty = y + 4.0,
            v = number(top * step),
        );
    }
    for (i, bar) in bars.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar_w) / 2.0;
        let total: f64 = bar.values.iter().sum();
        let words: Vec<String> = series
            .iter()
            .zip(&bar.values)
            .map(|(s, v)| format!("{}: {}{unit}", s.name, number(*v)))
            .collect();
        let text = escape(&format!("{} — {}", bar.title, words.join(", ")));
        let label = escape(&bar.label);
        let _ = write!(
            svg,
            r#"<g class="chart-bar" tabindex="0" role="img" aria-label="{text}" data-label="{label}" data-total="{total}"><title>{text}</title>"#,
        );
        // the hit area: the whole column, so small bars are easy to point at
        let _ = write!(
            svg,
            r#"<rect class="chart-hit" x="{x:.1}" y="{TOP}" width="{bar_w:.1}" height="{plot_h:.1}"/>"#
        );
        let mut y = TOP + plot_h;
        for (s, v) in series.iter().zip(&bar.values) {
            if *v <= 0.0 || top <= 0.0 {
                continue;
            }
            let h = plot_h * v / top;
            y -= h;
            let _ = write!(
                svg,
                r#"<rect class="{class}" x="{x:.1}" y="{y:.1}" width="{bar_w:.1}" height="{h:.1}" data-value="{v}"/>"#,
                class = s.class,
            );
        }
        let tip_x = (x + bar_w / 2.0).clamp(LEFT + 60.0, WIDTH - 60.0);
        let _ = write!(
            svg,
            r#"<text class="chart-tip" x="{tip_x:.1}" y="{ty:.1}" text-anchor="middle">{value}</text>"#,
            ty = (y - 6.0).max(TOP + 10.0),
            value = number(total),
        );
        svg.push_str("</g>");
        if label_every > 0 && i % label_every == 0 {
            let _ = write!(
                svg,
                r#"<text class="chart-axis" x="{lx:.1}" y="{ly}" text-anchor="middle">{label}</text>"#,
                lx = x + bar_w / 2.0,
                ly = TOP + plot_h + 16.0,
            );
        }
    }
    // the legend under the axis
    let mut lx = LEFT;
    for s in series {
        let _ = write!(
            svg,
            r#"<rect class="{class}" x="{lx}" y="{y}" width="10" height="10"/><text class="chart-legend" x="{tx}" y="{ty}">{name}</text>"#,
            class = s.class,
            y = HEIGHT + 6.0,
            tx = lx + 14.0,
            ty = HEIGHT + 15.0,
            name = escape(s.name),
        );
        lx += 22.0 + 7.5 * s.name.chars().count() as f64;
    }
    svg.push_str("</svg>");
    svg
}

/// 1, 2 or 5 times a power of ten, at least `max` (the axis' top).
fn nice_ceiling(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|v| *v >= max)
        .unwrap_or(10.0 * magnitude)
}

/// Whole numbers with dots for thousands; one decimal below 10.
fn number(v: f64) -> String {
    if v.fract().abs() > f64::EPSILON && v.abs() < 10.0 {
        return format!("{v:.1}").replace('.', ",");
    }
    // the charts hold counts and rates, never below zero
    crate::ui::format::integer(v.round().max(0.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_days() -> Vec<Bar> {
        vec![
            Bar {
                label: "30/11".into(),
                title: "30/11/2026".into(),
                values: vec![3.0, 1.0],
            },
            Bar {
                label: "01/12".into(),
                title: "01/12/2026".into(),
                values: vec![12.0, 0.0],
            },
        ]
    }

    const SERIES: [Series; 2] = [
        Series {
            name: "concluídas",
            class: "s-ok",
        },
        Series {
            name: "com erro",
            class: "s-bad",
        },
    ];

    #[test]
    fn every_bar_says_its_numbers_and_can_take_focus() {
        let svg = stacked_bars(
            "importacoes",
            "Importações por dia",
            "Últimos 2 dias",
            &SERIES,
            &two_days(),
            "",
            1,
        );
        assert!(svg.starts_with("<svg class=\"chart\""));
        assert!(svg.contains(r#"aria-labelledby="importacoes-t importacoes-d""#));
        assert!(svg.contains("<title id=\"importacoes-t\">Importações por dia</title>"));
        assert!(svg.contains(r#"aria-label="30/11/2026 — concluídas: 3, com erro: 1""#));
        assert!(svg.contains(r#"aria-label="01/12/2026 — concluídas: 12, com erro: 0""#));
        assert_eq!(svg.matches("tabindex=\"0\"").count(), 2);
        // the tallest stack reaches the axis' top (20 for 12), scaled
        assert!(svg.contains(r#"data-value="12""#));
        // a zero draws nothing
        assert!(!svg.contains(r#"data-value="0""#));
    }

    #[test]
    fn words_go_in_escaped() {
        let mut bars = two_days();
        bars[0].label = r#""><script>x</script>"#.into();
        bars[0].title = "<b>".into();
        let svg = stacked_bars("c", "a<b", "\"d\"", &SERIES, &bars, "", 1);
        assert!(!svg.contains("<script>") && !svg.contains("<b>"), "{svg}");
        assert!(
            svg.contains("&lt;script&gt;") && svg.contains("a&lt;b"),
            "{svg}"
        );
        assert!(
            svg.contains("<desc id=\"c-d\">&quot;d&quot;</desc>"),
            "{svg}"
        );
    }

    #[test]
    fn the_dashboard_counts_each_import_on_its_brasilia_day() {
        use sgp_import_core::model::JobStatus;
        use sgp_import_core::store::FinishedImport;
        let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let imports = [
            // 01:00 UTC on the 1st is still the 30th in Brasília
            FinishedImport {
                finished_at: at("2026-12-01T01:00:00Z"),
                status: JobStatus::Failed,
                created: 0,
                removed: 0,
                returned: 0,
            },
            FinishedImport {
                finished_at: at("2026-12-01T15:00:00Z"),
                status: JobStatus::Completed,
                created: 1200,
                removed: 7,
                returned: 2,
            },
        ];
        let svg = dashboard::imports(&imports, today);
        assert_eq!(svg.matches("class=\"chart-bar\"").count(), 30);
        assert!(
            svg.contains(r#"aria-label="30/11/2026 — concluídas: 0, com erro: 1, canceladas: 0""#)
        );
        assert!(
            svg.contains(r#"aria-label="01/12/2026 — concluídas: 1, com erro: 0, canceladas: 0""#)
        );
        let svg = dashboard::customers(&imports, today);
        assert!(
            svg.contains(r#"aria-label="01/12/2026 — novos: 1.200, removidos: 7, voltaram: 2""#)
        );
    }

    #[test]
    fn speed_bars_name_their_time() {
        let svg = speed(&[(20.0, 1500.0), (95.0, 2500.5)]).unwrap();
        assert!(
            svg.contains(r#"aria-label="Aos 0:20 — clientes/s: 1.500""#),
            "{svg}"
        );
        assert!(
            svg.contains(r#"aria-label="Aos 1:35 — clientes/s: 2.501""#),
            "{svg}"
        );
        assert_eq!(speed(&[]), None);
    }

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice_ceiling(12.0), 20.0);
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(4_321.0), 5_000.0);
        assert_eq!(number(12_345.0), "12.345");
        assert_eq!(number(2.5), "2,5");
    }
}

/// The dashboard's two charts over the last `days` days (Brasília), from
/// the provider's finished imports: imports per day by outcome, and
/// customers new, removed and back per day.
pub mod dashboard {
    use chrono::{Duration, NaiveDate};
    use sgp_import_core::model::JobStatus;
    use sgp_import_core::store::FinishedImport;

    use super::{stacked_bars, Bar, Series};

    pub const DAYS: i64 = 30;

    /// The Brasília day of an instant (the schedules' time zone).
    pub fn local_day(t: chrono::DateTime<chrono::Utc>) -> NaiveDate {
        t.with_timezone(&sgp_import_core::schedule::TIME_ZONE)
            .date_naive()
    }

    /// When the first of the charts' days began.
    pub fn first_instant(now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
        let first = local_day(now) - Duration::days(DAYS - 1);
        first
            .and_time(chrono::NaiveTime::MIN)
            .and_local_timezone(sgp_import_core::schedule::TIME_ZONE)
            .earliest()
            .map_or(now - Duration::days(DAYS), |t| t.to_utc())
    }

    fn per_day(
        imports: &[FinishedImport],
        today: NaiveDate,
        values: impl Fn(&FinishedImport) -> [f64; 3],
    ) -> Vec<Bar> {
        (0..DAYS)
            .rev()
            .map(|back| {
                let day = today - Duration::days(back);
                let mut sum = [0.0; 3];
                for i in imports.iter().filter(|i| local_day(i.finished_at) == day) {
                    for (s, v) in sum.iter_mut().zip(values(i)) {
                        *s += v;
                    }
                }
                Bar {
                    label: day.format("%d/%m").to_string(),
                    title: day.format("%d/%m/%Y").to_string(),
                    values: sum.to_vec(),
                }
            })
            .collect()
    }

    /// Imports per day by how they ended.
    pub fn imports(imports: &[FinishedImport], today: NaiveDate) -> String {
        let bars = per_day(imports, today, |i| match i.status {
            JobStatus::Completed => [1.0, 0.0, 0.0],
            JobStatus::Failed => [0.0, 1.0, 0.0],
            _ => [0.0, 0.0, 1.0],
        });
        stacked_bars(
            "grafico-importacoes",
            "Importações por dia",
            "Importações terminadas em cada um dos últimos 30 dias: concluídas, com erro e canceladas.",
            &[
                Series { name: "concluídas", class: "s-ok" },
                Series { name: "com erro", class: "s-bad" },
                Series { name: "canceladas", class: "s-muted" },
            ],
            &bars,
            "",
            5,
        )
    }

    /// Customers new, removed and back per day.
    pub fn customers(imports: &[FinishedImport], today: NaiveDate) -> String {
        let bars = per_day(imports, today, |i| {
            [i.created as f64, i.removed as f64, i.returned as f64]
        });
        stacked_bars(
            "grafico-clientes",
            "Clientes por dia",
            "Clientes novos, removidos do SGP e que voltaram ao SGP em cada um dos últimos 30 dias.",
            &[
                Series { name: "novos", class: "s-ok" },
                Series { name: "removidos", class: "s-bad" },
                Series { name: "voltaram", class: "s-info" },
            ],
            &bars,
            "",
            5,
        )
    }
}

/// An import's speed over time: customers per second between the
/// samples its checkpoint keeps. `None` before two samples exist.
pub fn speed(spans: &[(f64, f64)]) -> Option<String> {
    if spans.is_empty() {
        return None;
    }
    let bars: Vec<Bar> = spans
        .iter()
        .map(|(at, rate)| {
            let secs = at.round() as u64;
            Bar {
                label: format!("{}:{:02}", secs / 60, secs % 60),
                title: format!("Aos {}:{:02}", secs / 60, secs % 60),
                values: vec![*rate],
            }
        })
        .collect();
    let every = bars.len().div_ceil(6).max(1);
    Some(stacked_bars(
        "grafico-velocidade",
        "Velocidade da importação",
        "Clientes por segundo ao longo da importação, página a página (minutos:segundos desde o início).",
        &[Series { name: "clientes/s", class: "s-info" }],
        &bars,
        "",
        every,
    ))
}
