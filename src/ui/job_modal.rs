//! The details of one import in a modal dialog: status, times, attempt,
//! counters, filters, result, last error and the log (newest at the
//! bottom, kept scrolled to the end), refreshed every 5 seconds while the
//! import is active. Esc closes it; focus stays inside while it is open.

use leptos::html;
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

use crate::api::changes::ConfirmRemovals;
use crate::api::imports::ImportDetailsView;
use crate::api::imports::{import_details, CancelImport, RetryImport};
use crate::model::{JobStatus, JobSummary, JobTiming, LogLine};
use crate::ui::changes::{import_changes, ChangesPage, ImportChanges};
use crate::ui::common::{ErrorAlert, Loaded};
use crate::ui::format;
use crate::ui::imports::REFRESH_MS;
use crate::ui::polling::use_polling;
use crate::ui::progress::{ProgressBar, ProgressFacts, StatusBadge};

#[component]
pub fn JobModal(id: String, close_href: String, on_change: Callback<()>) -> impl IntoView {
    let tick = RwSignal::new(0u32);
    let job_id = id.clone();
    let details =
        super::resource::resource(move || tick.get(), move |_| import_details(job_id.clone()));
    let active = Signal::derive(move || {
        details
            .get()
            .and_then(|r| r.ok())
            .is_some_and(|d| !d.summary.status.is_finished())
    });
    // The body is drawn again with each refresh: what the admin chose in
    // it (the tab, the kind and page of changes) is kept here, and the
    // element that had the focus gets it back (by its id).
    let (changes_tab, kind, page) = (
        RwSignal::new(false),
        RwSignal::new(String::new()),
        RwSignal::new(1u32),
    );
    let choice = BodyChoice {
        changes_tab,
        kind,
        page,
        changes: import_changes(id.clone(), changes_tab, kind, page),
        refocus: StoredValue::new(None),
    };
    let dialog = NodeRef::<html::Div>::new();
    use_polling(REFRESH_MS, active, move || {
        choice.refocus.set_value(focused_id_within(dialog));
        tick.update(|t| *t += 1)
    });

    let cancel = ServerAction::<CancelImport>::new();
    let retry = ServerAction::<RetryImport>::new();
    let removals = ServerAction::<ConfirmRemovals>::new();
    Effect::new(move |_| {
        if cancel.version().get() + retry.version().get() + removals.version().get() > 0 {
            tick.update(|t| *t += 1);
            on_change.run(());
        }
    });
    // the error of the action that answered last (a later success clears it)
    let action_error = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if let Some(r) = cancel.value().get() {
            action_error.set(r.err().map(|e| e.message));
        }
    });
    Effect::new(move |_| {
        if let Some(r) = retry.value().get() {
            action_error.set(r.err().map(|e| e.message));
        }
    });
    Effect::new(move |_| {
        if let Some(r) = removals.value().get() {
            action_error.set(r.err().map(|e| e.message));
        }
    });

    let navigate = use_navigate();
    let close = {
        let href = close_href.clone();
        move || navigate(&href, Default::default())
    };
    keyboard_behaviour(dialog, close.clone());

    view! {
        <div class="modal-backdrop">
            <div
                class="modal"
                role="dialog"
                aria-modal="true"
                aria-labelledby="modal-title"
                tabindex="-1"
                node_ref=dialog
            >
                <header class="modal-header">
                    <h2 id="modal-title">"Detalhes da importação"</h2>
                    <button type="button" class="btn btn-small btn-secondary" on:click=move |_| tick.update(|t| *t += 1)>
                        "Atualizar"
                    </button>
                    <a class="btn btn-small btn-secondary modal-close" href=close_href.clone() aria-label="Fechar">
                        "Fechar"
                    </a>
                </header>
                <Loaded resource=details let:d>
                    <DetailsBody d cancel retry removals choice/>
                </Loaded>
                {move || action_error.get().map(|m| view! { <ErrorAlert message=m/> })}
            </div>
        </div>
    }
}

/// What the admin chose in the modal's body, kept across its refreshes.
#[derive(Clone, Copy)]
struct BodyChoice {
    changes_tab: RwSignal<bool>,
    kind: RwSignal<String>,
    page: RwSignal<u32>,
    /// The page of changes shown, read when the kind or page changes only.
    changes: ChangesPage,
    /// The id of the element to focus once the body is drawn again.
    refocus: StoredValue<Option<String>>,
}

/// The id of the focused element, when it is inside `root` and has one.
fn focused_id_within(root: NodeRef<html::Div>) -> Option<String> {
    #[cfg(feature = "hydrate")]
    {
        let root = root.get_untracked()?;
        let active = document().active_element()?;
        (root.contains(Some(&active)) && !active.id().is_empty()).then(|| active.id())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = root;
        None
    }
}

#[component]
fn DetailsBody(
    d: ImportDetailsView,
    cancel: ServerAction<CancelImport>,
    retry: ServerAction<RetryImport>,
    removals: ServerAction<ConfirmRemovals>,
    choice: BodyChoice,
) -> impl IntoView {
    let s = d.summary.clone();
    let changes_tab = choice.changes_tab;
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        use wasm_bindgen::JsCast;
        let id = choice.refocus.try_update_value(Option::take).flatten();
        // only a focus the redraw took away comes back: one the admin
        // moved meanwhile stays where it is
        let lost = document()
            .active_element()
            .is_none_or(|el| document().body().is_some_and(|b| b.is_same_node(Some(&el))));
        if let Some(el) = id
            .filter(|_| lost)
            .and_then(|id| document().get_element_by_id(&id))
            .and_then(|el| el.dyn_into::<web_sys::HtmlElement>().ok())
        {
            let _ = el.focus();
        }
    });
    // the log ends scrolled to its newest line
    let facts = NodeRef::<html::Div>::new();
    Effect::new(move |_| {
        if let Some(log) = facts
            .get()
            .and_then(|el| el.query_selector(".log").ok().flatten())
        {
            log.set_scroll_top(log.scroll_height());
        }
    });
    let id = s.id.to_string();
    let tab = move |changes: bool, label: &'static str| {
        view! {
            <button type="button" role="tab" class="tab"
                id=if changes { "aba-mudancas" } else { "aba-detalhes" }
                aria-selected=move || (changes_tab.get() == changes).to_string()
                on:click=move |_| changes_tab.set(changes)>
                {label}
            </button>
        }
    };
    view! {
        <div class="modal-body">
            <p class="modal-job">
                <strong>{s.name.clone()}</strong>
                " "
                <StatusBadge status=s.status/>
            </p>
            <ProgressBar percent_done=s.progress.percent label=format!("Progresso de {}", s.name)/>
            {d.removal_pending.map(|(customers, contracts)| view! { <RemovalGuard id=id.clone() customers contracts removals/> })}
            <div class="tabs" role="tablist" aria-label="Detalhes da importação">
                {tab(false, "Detalhes")}
                {tab(true, "O que mudou")}
            </div>
            <Show
                when=move || changes_tab.get()
                fallback=move || {
                    view! {
                        <div class="details-facts" inner_html=d.facts_html.clone() node_ref=facts></div>
                        <DetailsActions job=s.clone() cancel retry/>
                    }
                }
            >
                <ImportChanges html=choice.changes kind=choice.kind page=choice.page/>
            </Show>
        </div>
    }
}

/// The removal guard held the marks back: say so, and let the admin
/// confirm.
#[component]
fn RemovalGuard(
    id: String,
    customers: u64,
    contracts: u64,
    removals: ServerAction<ConfirmRemovals>,
) -> impl IntoView {
    view! {
        <div class="alert alert-warning" role="status" data-testid="remocoes-pendentes">
            <p>
                {format!(
                    "{} clientes e {} contratos não vieram do SGP nesta importação, mais que o \
                     limite: nada foi marcado como removido. Confira o SGP; se as saídas forem \
                     reais, confirme.",
                    format::integer(customers),
                    format::integer(contracts)
                )}
            </p>
            <button type="button" class="btn btn-danger" id="confirmar-remocoes"
                disabled=move || removals.pending().get()
                on:click=move |_| {
                    if confirm("Marcar esses clientes como removidos do SGP?") {
                        removals.dispatch(ConfirmRemovals { id: id.clone() });
                    }
                }>
                "Confirmar remoções"
            </button>
        </div>
    }
}

/// When, where, how many, with which filters, how it ended, its speed and
/// its log. Rendered on the server only (`api::imports::import_details`
/// sends it as markup), so none of this is in the browser's bundle.
#[component]
pub fn DetailsFacts(
    filters: String,
    result: Option<String>,
    job: JobSummary,
    timing: JobTiming,
    speed_chart: Option<String>,
    logs: Vec<LogLine>,
    logs_omitted: u64,
) -> impl IntoView {
    let seconds = |v: Option<f64>| {
        v.map(|s| crate::ui::progress::duration(s.round() as u64))
            .unwrap_or_else(|| "—".into())
    };
    let rate = timing
        .rate
        .map(|r| format!("{} clientes/s", format::integer(r.round() as u64)))
        .unwrap_or_else(|| "—".into());
    let (s, p) = (&job, &job.progress);
    let when = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(format::date_time).unwrap_or_else(|| "—".into())
    };
    view! {
        <ProgressFacts job=job.clone()/>
        <dl class="facts">
            <div><dt>"Criada em"</dt><dd>{format::date_time(s.created_at)}</dd></div>
            <div><dt>"Origem"</dt><dd data-stat="origem">{s.origin.label()}</dd></div>
            <div><dt>"Início"</dt><dd>{when(s.started_at)}</dd></div>
            <div><dt>"Fim"</dt><dd>{when(s.finished_at)}</dd></div>
            <div><dt>"Tempo na fila"</dt><dd data-stat="tempo-na-fila">{seconds(timing.queued_seconds)}</dd></div>
            <div><dt>"Duração"</dt><dd data-stat="duracao">{seconds(timing.total_seconds)}</dd></div>
            <div><dt>"Velocidade média"</dt><dd data-stat="velocidade">{rate}</dd></div>
            <div><dt>"Tentativa"</dt><dd>{format!("{} de {}", s.attempt, s.max_attempts)}</dd></div>
            <div><dt>"Servidor"</dt><dd>{s.lease_owner.clone().unwrap_or_else(|| "—".into())}</dd></div>
            <div><dt>"Processados"</dt><dd data-stat="processados">{format::integer(p.processed)}</dd></div>
            <div><dt>"Criados"</dt><dd>{format::integer(p.created)}</dd></div>
            <div><dt>"Atualizados"</dt><dd>{format::integer(p.updated)}</dd></div>
            <div><dt>"Sem mudança"</dt><dd>{format::integer(p.unchanged)}</dd></div>
            <div><dt>"Erros"</dt><dd>{format::integer(p.failed)}</dd></div>
            <div class="wide"><dt>"Filtros"</dt><dd>{filters}</dd></div>
            {result.map(|r| view! { <div class="wide"><dt>"Resultado"</dt><dd data-testid="resultado">{r}</dd></div> })}
            {p.message.clone().map(|m| view! { <div class="wide"><dt>"Mensagem atual"</dt><dd>{m}</dd></div> })}
            {s.last_error.clone().map(|e| view! { <div class="wide"><dt>"Último erro"</dt><dd class="error-text">{e}</dd></div> })}
        </dl>
        {speed_chart.map(|svg| view! { <div class="chart-box" inner_html=svg></div> })}
        <JobLog lines=logs omitted=logs_omitted/>
    }
}

/// The job's log, newest line at the bottom (the modal scrolls it there).
#[component]
fn JobLog(lines: Vec<LogLine>, omitted: u64) -> impl IntoView {
    view! {
        <h3 id="log-title">"Log"</h3>
        {(omitted > 0).then(|| view! {
            <p class="muted">{format!("{} linhas do meio do log foram omitidas.", format::integer(omitted))}</p>
        })}
        <ol class="log" aria-labelledby="log-title" tabindex="0">
            {lines
                .into_iter()
                .map(|line| {
                    view! {
                        <li class=format!("log-line log-{}", line.level.as_str())>
                            <time>{format::date_time(line.at)}</time>
                            " "
                            <span class="log-level">{line.level.as_str().to_ascii_uppercase()}</span>
                            " "
                            <span class="log-message">{line.message}</span>
                        </li>
                    }
                })
                .collect_view()}
        </ol>
    }
}

/// Cancel or retry, as the status allows, and the error report.
#[component]
fn DetailsActions(
    job: JobSummary,
    cancel: ServerAction<CancelImport>,
    retry: ServerAction<RetryImport>,
) -> impl IntoView {
    let id = job.id.to_string();
    let can_cancel = !job.status.is_finished() && job.status != JobStatus::Cancelling;
    let can_retry = matches!(job.status, JobStatus::Failed | JobStatus::Cancelled);
    let cancel_id = id.clone();
    let retry_id = id.clone();
    view! {
        <div class="modal-actions">
            {can_cancel.then(|| view! {
                <button
                    type="button"
                    class="btn btn-danger"
                    id="cancelar-importacao"
                    disabled=move || cancel.pending().get()
                    on:click=move |_| {
                        if confirm("Cancelar esta importação? O que já foi importado fica salvo.") {
                            cancel.dispatch(CancelImport { id: cancel_id.clone() });
                        }
                    }
                >
                    "Cancelar"
                </button>
            })}
            {can_retry.then(|| view! {
                <button
                    type="button"
                    class="btn"
                    id="tentar-novamente"
                    disabled=move || retry.pending().get()
                    on:click=move |_| { retry.dispatch(RetryImport { id: retry_id.clone() }); }
                >
                    "Tentar novamente"
                </button>
            })}
            <a
                class="btn btn-secondary"
                href=format!("/api/admin/integracoes/sgp/importacoes/{id}/erros.csv")
                download
            >
                "Baixar relatório de erros"
            </a>
        </div>
    }
}

fn confirm(message: &str) -> bool {
    #[cfg(feature = "hydrate")]
    {
        window().confirm_with_message(message).unwrap_or(false)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = message;
        false
    }
}

/// Esc closes; Tab and Shift+Tab cycle within the dialog; the dialog takes
/// focus when it opens.
fn keyboard_behaviour(dialog: NodeRef<html::Div>, close: impl Fn() + Clone + 'static) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;

        Effect::new(move |_| {
            if let Some(el) = dialog.get() {
                let _ = el.focus();
            }
        });
        let handle = window_event_listener(leptos::ev::keydown, move |ev| {
            if ev.key() == "Escape" {
                ev.prevent_default();
                close();
                return;
            }
            if ev.key() != "Tab" {
                return;
            }
            let Some(root) = dialog.get_untracked() else {
                return;
            };
            let Ok(nodes) = root.query_selector_all(
                "a[href], button:not([disabled]), input, select, textarea, [tabindex]:not([tabindex='-1'])",
            ) else {
                return;
            };
            let items: Vec<web_sys::HtmlElement> = (0..nodes.length())
                .filter_map(|i| nodes.item(i))
                .filter_map(|n| n.dyn_into::<web_sys::HtmlElement>().ok())
                .collect();
            let (Some(first), Some(last)) = (items.first(), items.last()) else {
                return;
            };
            let active = document().active_element();
            let at = |e: &web_sys::HtmlElement| {
                active
                    .as_ref()
                    .is_some_and(|a| a == e.unchecked_ref::<web_sys::Element>())
            };
            let inside = active.as_ref().is_some_and(|a| root.contains(Some(a)));
            if ev.shift_key() && (at(first) || !inside) {
                ev.prevent_default();
                let _ = last.focus();
            } else if !ev.shift_key() && (at(last) || !inside) {
                ev.prevent_default();
                let _ = first.focus();
            }
        });
        on_cleanup(move || handle.remove());
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (dialog, close);
    }
}
