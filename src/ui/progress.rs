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
    let total = p
        .total_estimated
        .map(format::integer)
        .unwrap_or_else(|| "?".into());
    let eta = match (job.status, p.eta_seconds) {
        (JobStatus::Running, Some(s)) => format!("faltam cerca de {}", duration(s)),
        _ => String::new(),
    };
    view! {
        <p class="progress-facts">
            <span>{format!("{} de {} clientes", format::integer(p.processed), total)}</span>
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
    }
}
