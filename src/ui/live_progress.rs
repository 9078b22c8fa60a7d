//! The progress of an import just started, live from the server-sent
//! events of `importar-stream`, for 30 seconds or until it ends; then the
//! admin is taken to the dashboard (or goes at once with the link).

use leptos::prelude::*;

use crate::model::{JobStatus, JobSummary};
use crate::ui::common::ErrorAlert;
use crate::ui::progress::{count_text, duration, percent, ProgressBar};

/// Seconds the page follows the import before handing over.
pub const HAND_OVER_SECS: u32 = 30;
/// Where the hand-over lands: the dashboard with the new import
/// highlighted and its details open, as the original system did.
pub fn handover_href(id: &str) -> String {
    format!("/dashboard/importacoes/{id}?destaque={id}")
}

/// The fields of the stream's events this view reads (the REST API's
/// `ImportacaoJson`).
#[derive(Clone, Debug, PartialEq)]
pub struct LiveJob {
    pub status: String,
    pub status_label: String,
    pub total_estimado: Option<u64>,
    pub processados: u64,
    pub progresso_percent: f32,
    pub eta_segundos: Option<u64>,
    pub mensagem_atual: Option<String>,
}

#[cfg(feature = "hydrate")]
impl LiveJob {
    /// Reads an event with the browser's own JSON parser: the bundle has no
    /// JSON reader of its own (pages and server functions talk postcard).
    /// `None` when a field this view needs is missing or of another type.
    fn from_json(text: &str) -> Option<LiveJob> {
        let event = js_sys::JSON::parse(text).ok()?;
        let field = |name: &str| {
            js_sys::Reflect::get(&event, &name.into())
                .ok()
                .filter(|v| !v.is_null() && !v.is_undefined())
        };
        let count = |name: &str| field(name).and_then(|v| v.as_f64()).map(|n| n as u64);
        Some(LiveJob {
            status: field("status")?.as_string()?,
            status_label: field("status_label")?.as_string()?,
            total_estimado: count("total_estimado"),
            processados: count("processados")?,
            progresso_percent: field("progresso_percent")?.as_f64()? as f32,
            eta_segundos: count("eta_segundos"),
            mensagem_atual: field("mensagem_atual").and_then(|v| v.as_string()),
        })
    }
}

#[component]
pub fn LiveProgress(job: JobSummary) -> impl IntoView {
    let live = RwSignal::new(None::<LiveJob>);
    let finished = RwSignal::new(false);
    let remaining = RwSignal::new(HAND_OVER_SECS);
    // why the live view stopped following (the stream's own message, or
    // a connection the browser could not open or keep)
    let lost = RwSignal::new(None::<String>);
    follow(job.id.to_string(), live, finished, remaining, lost);
    let name = job.name.clone();
    view! {
        <div class="live">
            <p aria-live="polite">
                <strong>{job.name.clone()}</strong>
                " — "
                {move || live.get().map(|j| j.status_label).unwrap_or_else(|| job.status.label_pt().to_owned())}
            </p>
            <ProgressBar
                percent_done=Signal::derive(move || live.get().map(|j| j.progresso_percent).unwrap_or(0.0))
                label=format!("Progresso de {name}")
            />
            <p class="progress-facts">
                {move || {
                    live.get().map(|j| {
                        let eta = j
                            .eta_segundos
                            .filter(|_| j.status == JobStatus::Running.as_str())
                            .map(|s| format!("faltam cerca de {}", duration(s)))
                            .unwrap_or_default();
                        view! {
                            <span>{count_text(j.processados, j.total_estimado)}</span>
                            <span class="progress-percent">{percent(j.progresso_percent)}</span>
                            <span class="muted">{eta}</span>
                        }
                    })
                }}
            </p>
            <p class="current-message">{move || live.get().and_then(|j| j.mensagem_atual)}</p>
            {move || lost.get().map(|m| view! { <ErrorAlert message=m/> })}
            <p class="muted" data-testid="contagem">
                {move || {
                    if finished.get() {
                        "Importação encerrada. Indo para o painel…".to_owned()
                    } else {
                        format!("Indo para o painel de importações em {} s.", remaining.get())
                    }
                }}
            </p>
            <a class="btn" href=handover_href(&job.id.to_string())>"Ir para o painel agora"</a>
        </div>
    }
}

/// Opens the event stream and the hand-over countdown (browser only).
fn follow(
    id: String,
    live: RwSignal<Option<LiveJob>>,
    finished: RwSignal<bool>,
    remaining: RwSignal<u32>,
    lost: RwSignal<Option<String>>,
) {
    #[cfg(feature = "hydrate")]
    {
        use gloo_timers::callback::Interval;
        use wasm_bindgen::closure::Closure;
        use wasm_bindgen::JsCast;

        let navigate = leptos_router::hooks::use_navigate();
        let url = format!("/api/admin/integracoes/sgp/importar-stream?job_id={id}");
        let Ok(source) = web_sys::EventSource::new(&url) else {
            return;
        };
        let on_event = |done: bool| {
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
                if let Some(job) = e
                    .data()
                    .as_string()
                    .and_then(|text| LiveJob::from_json(&text))
                {
                    live.set(Some(job));
                }
                if done {
                    finished.set(true);
                }
            })
        };
        let progress = on_event(false);
        let done = on_event(true);
        let _ =
            source.add_event_listener_with_callback("progress", progress.as_ref().unchecked_ref());
        let _ = source.add_event_listener_with_callback("done", done.as_ref().unchecked_ref());
        // the stream's `error` event carries the server's message; a bare
        // one is the connection failing (refused, or lost for good)
        let failed = {
            let source = source.clone();
            Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
                let said = e
                    .dyn_ref::<web_sys::MessageEvent>()
                    .and_then(|m| m.data().as_string())
                    .filter(|m| !m.is_empty());
                if said.is_none() && source.ready_state() != web_sys::EventSource::CLOSED {
                    return; // the browser reconnects by itself
                }
                source.close();
                lost.set(Some(said.unwrap_or_else(|| {
                    "Não foi possível acompanhar o progresso ao vivo. A importação continua: \
                     acompanhe-a no painel."
                        .to_owned()
                })));
            })
        };
        let _ = source.add_event_listener_with_callback("error", failed.as_ref().unchecked_ref());
        let source = StoredValue::new_local(Some((source, progress, done, failed)));

        let ticker = Interval::new(1_000, move || {
            let left = remaining.get_untracked().saturating_sub(1);
            remaining.set(left);
            if left == 0 || finished.get_untracked() {
                navigate(&handover_href(&id), Default::default());
            }
        });
        let ticker = StoredValue::new_local(Some(ticker));
        Effect::new(move |_| {
            if finished.get() {
                source.update_value(|s| {
                    if let Some((es, ..)) = s.take() {
                        es.close();
                    }
                });
            }
        });
        on_cleanup(move || {
            ticker.set_value(None);
            source.update_value(|s| {
                if let Some((es, ..)) = s.take() {
                    es.close();
                }
            });
        });
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (id, live, finished, remaining, lost);
    }
}
