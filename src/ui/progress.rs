//! A job's progress as admins read it: bar, counts, percent, ETA.

use leptos::prelude::*;

use crate::model::{JobStatus, JobSummary};
use crate::ui::format;

/// `1 h 05 min`, `3 min 20 s`, `45 s`.
pub fn duration(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, (seconds % 3600) / 60, seconds % 60);
    if h > 0 {
        format!("{h} h {m:02} min")
    } else if m > 0 {
        format!("{m} min {s:02} s")
    } else {
        format!("{s} s")
    }
}

/// "120 de 400 clientes"; before SGP says how many there are, says so
/// instead of "0 de ? clientes".
pub fn count_text(processed: u64, total: Option<u64>) -> String {
    match total {
        Some(total) => format!(
            "{} de {} clientes",
            format::integer(processed),
            format::integer(total)
        ),
        None if processed == 0 => "calculando o total…".to_owned(),
        None => format!(
            "{} clientes, calculando o total…",
            format::integer(processed)
        ),
    }
}

pub fn percent(p: f32) -> String {
    format!("{}%", p.clamp(0.0, 100.0).round() as u32)
}

#[component]
pub fn StatusBadge(status: JobStatus) -> impl IntoView {
    view! { <span class=format!("badge badge-{}", status.as_str())>{status.label_pt()}</span> }
}

#[component]
pub fn ProgressBar(#[prop(into)] percent_done: Signal<f32>, label: String) -> impl IntoView {
    let value = move || percent_done.get().clamp(0.0, 100.0).round() as u32;
    view! {
        <div
            class="progress"
            role="progressbar"
            aria-label=label
            aria-valuemin="0"
            aria-valuemax="100"
            aria-valuenow=move || value().to_string()
        >
            // a class per percent, not a `style` attribute: the page's
            // Content-Security-Policy allows no inline styles
            <div class=move || format!("progress-fill w{}", value())></div>
        </div>
    }
}

/// The numbers under a bar: processed of total, percent, ETA.
#[component]
pub fn ProgressFacts(job: JobSummary) -> impl IntoView {
    let p = &job.progress;
    let count = count_text(p.processed, p.total_estimated);
    let eta = match (job.status, p.eta_seconds) {
        (JobStatus::Running, Some(s)) => format!("faltam cerca de {}", duration(s)),
        _ => String::new(),
    };
    view! {
        <p class="progress-facts">
            <span>{count}</span>
            <span class="progress-percent">{percent(p.percent)}</span>
            {(!eta.is_empty()).then(|| view! { <span class="muted">{eta}</span> })}
        </p>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(45), "45 s");
        assert_eq!(duration(200), "3 min 20 s");
        assert_eq!(duration(3900), "1 h 05 min");
        assert_eq!(percent(99.6), "100%");
        assert_eq!(percent(-3.0), "0%");
        assert_eq!(count_text(0, None), "calculando o total…");
        assert_eq!(
            count_text(1500, None),
            "1.500 clientes, calculando o total…"
        );
        assert_eq!(count_text(120, Some(4000)), "120 de 4.000 clientes");
    }
}
