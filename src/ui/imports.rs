//! `/dashboard/importacoes`: tabs with counts, progress cards for active
//! imports, the paginated history, and the details modal (also at
//! `/dashboard/importacoes/{id}`). Tab and page live in the URL.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::imports::{list_imports, ImportTab, PAGE_SIZE};
use crate::model::{JobOrigin, JobPage, JobStatus, JobSummary, StatusCounts};
use crate::ui::charts::ImportCharts;
use crate::ui::common::{Loaded, Pager};
use crate::ui::format;
use crate::ui::job_modal::JobModal;
use crate::ui::polling::use_polling;
use crate::ui::progress::{ProgressBar, ProgressFacts, StatusBadge};

/// How often the dashboard and the modal refresh while an import is active.
pub const REFRESH_MS: u32 = 5_000;

/// The list's place: tab, page and origin filter (`""`: every origin),
/// and the import to highlight (`?destaque=`, set by the hand-over from
/// `/integracoes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    pub tab: ImportTab,
    pub page: u32,
    pub origin: Option<JobOrigin>,
    pub highlight: Option<uuid::Uuid>,
}

impl Place {
    fn highlights(self, job: &JobSummary) -> bool {
        self.highlight == Some(job.id.0)
    }
}

impl Place {
    fn query(self) -> String {
        let mut q = format!("aba={}&pagina={}", self.tab.slug(), self.page);
        if let Some(o) = self.origin {
            q.push_str("&origem=");
            q.push_str(o.api_name());
        }
        q
    }

    fn href(self) -> String {
        format!("/dashboard/importacoes?{}", self.query())
    }

    fn at(self, tab: ImportTab, page: u32) -> Self {
        Place { tab, page, ..self }
    }
}

#[component]
pub fn ImportsPage() -> impl IntoView {
    let query = use_query_map();
    let params = use_params_map();
    let tab =
        Memo::new(move |_| ImportTab::from_slug(&query.read().get("aba").unwrap_or_default()));
    let page = Memo::new(move |_| {
        query
            .read()
            .get("pagina")
            .and_then(|p| p.parse::<u32>().ok())
            .filter(|p| *p >= 1)
            .unwrap_or(1)
    });
    let origin = Memo::new(move |_| {
        JobOrigin::from_api_name(&query.read().get("origem").unwrap_or_default())
    });
    let place = Memo::new(move |_| Place {
        tab: tab.get(),
        page: page.get(),
        origin: origin.get(),
        highlight: query
            .read()
            .get("destaque")
            .and_then(|id| uuid::Uuid::parse_str(&id).ok()),
    });
    let open_job = Memo::new(move |_| params.read().get("id"));
    let tick = RwSignal::new(0u32);
    let view_data = super::resource::resource(
        move || (place.get(), tick.get()),
        |(place, _)| {
            list_imports(
                place.tab.slug().to_owned(),
                place.page,
                place
                    .origin
                    .map(|o| o.api_name().to_owned())
                    .unwrap_or_default(),
                place.highlight.map(|h| h.to_string()).unwrap_or_default(),
            )
        },
    );
    let paused = RwSignal::new(false);
    let any_active = Signal::derive(move || {
        view_data
            .get()
            .and_then(|r| r.ok())
            .is_some_and(|v| v.any_active)
    });
    use_polling(
        REFRESH_MS,
        Signal::derive(move || any_active.get() && !paused.get()),
        move || tick.update(|t| *t += 1),
    );
    let close_href = Signal::derive(move || place.get().href());
    // The charts are drawn again when an import finishes, not on every
    // refresh. An effect watches the count of finished imports: effects run
    // in the browser after hydration, so the server's render does not read
    // the list before it has loaded (and the first charts are its own).
    let charts = RwSignal::new(0u32);
    Effect::new(move |before: Option<Option<u64>>| {
        let now = view_data.get().and_then(|r| r.ok()).map(|v| {
            [
                JobStatus::Completed,
                JobStatus::Failed,
                JobStatus::Cancelled,
            ]
            .map(|s| v.counts.get(s))
            .iter()
            .sum::<u64>()
        });
        if let (Some(Some(b)), Some(n)) = (before, now) {
            if b != n {
                charts.update(|c| *c += 1);
            }
        }
        now.or(before.flatten())
    });

    view! {
        <Title text="Status das Importações"/>
        <section class="page">
            <header class="page-header">
                <div>
                    <h1>"Status das Importações"</h1>
                    <p class="subtitle">"Importações de clientes do SGP deste provedor."</p>
                </div>
                <div class="actions">
                    <label class="switch">
                        <input
                            type="checkbox"
                            prop:checked=move || !paused.get()
                            on:change=move |ev| paused.set(!event_target_checked(&ev))
                        />
                        "Atualização automática"
                    </label>
                    <button type="button" class="btn btn-secondary" on:click=move |_| tick.update(|t| *t += 1)>
                        "Atualizar"
                    </button>
                    <a class="btn" href="/integracoes">"Nova importação"</a>
                </div>
            </header>
            // drawn again when the tab or page changes (same route)
            {move || view! { <OriginFilter place=place.get()/> }}
            <ImportCharts version=charts/>
            <Loaded resource=view_data let:v>
                <div class="dashboard" inner_html=v.html></div>
            </Loaded>
        </section>
        {move || {
            open_job
                .get()
                .map(|id| {
                    view! {
                        <JobModal
                            id
                            close_href=close_href.get()
                            on_change=Callback::new(move |_| tick.update(|t| *t += 1))
                        />
                    }
                })
        }}
    }
}

/// Links that narrow the list to one origin (kept across tabs and pages).
#[component]
fn OriginFilter(place: Place) -> impl IntoView {
    let choices = [(None, "Todas as origens")]
        .into_iter()
        .chain(JobOrigin::ALL.into_iter().map(|o| (Some(o), o.label())));
    view! {
        <nav class="filters" aria-label="Origem das importações">
            <span class="muted">"Origem:"</span>
            {choices
                .map(|(origin, label)| {
                    let current = (origin == place.origin).then_some("page");
                    let href = Place { origin, ..place.at(place.tab, 1) }.href();
                    view! {
                        <a class="chip" href=href aria-current=current>{label}</a>
                    }
                })
                .collect_view()}
        </nav>
    }
}

/// Tabs with counts, progress cards, history and pager. Rendered on the
/// server only (`api::imports::list_imports`): all of it is links.
#[component]
pub fn Dashboard(
    history: JobPage,
    counts: StatusCounts,
    active: Vec<JobSummary>,
    place: Place,
) -> impl IntoView {
    let (tab, page) = (place.tab, place.page);
    let pages = history.total.div_ceil(u64::from(PAGE_SIZE)).max(1) as u32;
    view! {
        <nav class="tabs" aria-label="Situação das importações">
            {ImportTab::ALL
                .into_iter()
                .map(|t| {
                    let current = (t == tab).then_some("page");
                    view! {
                        <a class="tab" href=place.at(t, 1).href() aria-current=current>
                            {t.label()}
                            <span class="tab-count">{format::integer(t.count(&counts))}</span>
                        </a>
                    }
                })
                .collect_view()}
        </nav>
        {(!active.is_empty())
            .then(|| {
                view! {
                    <section aria-labelledby="ativas" class="active-imports">
                        <h2 id="ativas">"Em andamento"</h2>
                        <div class="cards">
                            {active
                                .iter()
                                .map(|job| view! { <ProgressCard job=job.clone() place/> })
                                .collect_view()}
                        </div>
                    </section>
                }
            })}
        <section aria-labelledby="historico">
            <h2 id="historico">"Histórico"</h2>
            {if history.jobs.is_empty() {
                view! {
                    <div class="empty-state" role="status">
                        <p class="empty-title">"Nenhuma importação nesta aba."</p>
                        <p>"Inicie uma importação em " <a href="/integracoes">"Integrações"</a> "."</p>
                    </div>
                }
                    .into_any()
            } else {
                view! { <HistoryTable jobs=history.jobs.clone() place/> }.into_any()
            }}
            <Pager page pages label="Páginas do histórico" href=move |n| place.at(tab, n).href()/>
        </section>
    }
}

fn details_href(job: &JobSummary, place: Place) -> String {
    format!("/dashboard/importacoes/{}?{}", job.id, place.query())
}

#[component]
fn ProgressCard(job: JobSummary, place: Place) -> impl IntoView {
    let heading = format!("ativa-{}", job.id);
    let labelled_by = heading.clone();
    let label = format!("Progresso de {}", job.name);
    view! {
        <article
            class=if place.highlights(&job) { "card progress-card highlight" } else { "card progress-card" }
            aria-labelledby=labelled_by
            data-status=job.status.as_str()
        >
            <header class="card-header">
                <h3 id=heading>{job.name.clone()}</h3>
                <StatusBadge status=job.status/>
            </header>
            <ProgressBar percent_done=job.progress.percent label/>
            <ProgressFacts job=job.clone()/>
            {job
                .queue_position
                .map(|n| {
                    view! { <p class="muted">{format!("Posição na fila: {}", format::queue_position(n))}</p> }
                })}
            {job.progress.message.clone().map(|m| view! { <p class="current-message">{m}</p> })}
            <a href=details_href(&job, place)>"Ver detalhes"</a>
        </article>
    }
}

#[component]
fn HistoryTable(jobs: Vec<JobSummary>, place: Place) -> impl IntoView {
    view! {
        <table class="table history">
            <thead>
                <tr>
                    <th scope="col">"Nome"</th>
                    <th scope="col">"Situação"</th>
                    <th scope="col">"Origem"</th>
                    <th scope="col">"Criada em"</th>
                    <th scope="col" class="num">"Processados"</th>
                    <th scope="col" class="num">"Criados"</th>
                    <th scope="col" class="num">"Atualizados"</th>
                    <th scope="col" class="num">"Erros"</th>
                    <th scope="col"><span class="sr-only">"Detalhes"</span></th>
                </tr>
            </thead>
            <tbody>
                {jobs
                    .into_iter()
                    .map(|job| {
                        let p = job.progress.clone();
                        let class = place.highlights(&job).then_some("highlight");
                        view! {
                            <tr class=class aria-current=class.map(|_| "true")>
                                <td>{job.name.clone()}</td>
                                <td>
                                    <StatusBadge status=job.status/>
                                    // why a job ended without importing (a
                                    // skipped scheduled run, a failure)
                                    {matches!(job.status, JobStatus::Cancelled | JobStatus::Failed)
                                        .then(|| job.last_error.clone())
                                        .flatten()
                                        .map(|e| view! { <p class="status-note">{e}</p> })}
                                </td>
                                <td>{job.origin.label()}</td>
                                <td>{format::date_time(job.created_at)}</td>
                                <td class="num">{format::integer(p.processed)}</td>
                                <td class="num">{format::integer(p.created)}</td>
                                <td class="num">{format::integer(p.updated)}</td>
                                <td class="num">{format::integer(p.failed)}</td>
                                <td>
                                    <a href=details_href(&job, place) aria-label=format!("Detalhes de {}", job.name)>
                                        "Detalhes"
                                    </a>
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}
