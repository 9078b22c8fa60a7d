use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::overview::get_overview;
use crate::model::{JobStatus, TenantOverview};
use crate::ui::common::Loaded;
use crate::ui::format;

/// The landing page: what has been imported so far, per provider.
#[component]
pub fn OverviewPage() -> impl IntoView {
    let reloads = RwSignal::new(0u32);
    let overview = super::resource::resource(move || reloads.get(), |_| get_overview());
    let show_details = RwSignal::new(false);

    view! {
        <Title text="Painel"/>
        <section class="page">
            <header class="page-header">
                <div>
                    <h1>"Painel"</h1>
                    <p class="subtitle">"Clientes, contratos e importações de cada provedor."</p>
                </div>
                <div class="actions">
                    <button
                        type="button"
                        class="btn btn-secondary"
                        aria-pressed=move || show_details.get().to_string()
                        on:click=move |_| show_details.update(|v| *v = !*v)
                    >
                        {move || {
                            if show_details.get() {
                                "Ocultar importações por situação"
                            } else {
                                "Ver importações por situação"
                            }
                        }}
                    </button>
                    <button
                        type="button"
                        class="btn"
                        on:click=move |_| reloads.update(|n| *n += 1)
                    >
                        "Atualizar"
                    </button>
                </div>
            </header>
            <Loaded resource=overview let:cards>
                <div
                    class=move || if show_details.get() { "overview show-details" } else { "overview" }
                    inner_html=cards
                ></div>
            </Loaded>
        </section>
    }
}

/// A card per provider, or how to get a first one. Rendered on the server
/// only (`api::overview::get_overview`); each card's status table shows
/// when the page's container has `show-details`.
#[component]
pub fn TenantCards(list: Vec<TenantOverview>) -> impl IntoView {
    if list.is_empty() {
        return view! {
            <div class="empty-state" role="status">
                <p class="empty-title">"Nenhum provedor cadastrado."</p>
                <p>"Inicie com DEMO=true para criar o provedor de demonstração."</p>
            </div>
        }
        .into_any();
    }
    view! {
        <div class="cards">
            {list.into_iter().map(|ov| view! { <TenantCard ov/> }).collect_view()}
        </div>
    }
    .into_any()
}

#[component]
fn TenantCard(ov: TenantOverview) -> impl IntoView {
    let rows: Vec<(JobStatus, u64)> = JobStatus::ALL
        .into_iter()
        .map(|s| (s, ov.imports_in(s)))
        .collect();
    let heading_id = format!("provedor-{}", ov.tenant.slug);
    let labelled_by = heading_id.clone();
    view! {
        <article class="card" aria-labelledby=labelled_by>
            <h2 id=heading_id>{ov.tenant.name.clone()}</h2>
            <p class="muted">
                "Cadastrado em " {format::date(ov.tenant.created_at)}
            </p>
            <dl class="stats">
                <div>
                    <dt>"Clientes"</dt>
                    <dd data-stat="clientes">{format::integer(ov.customers)}</dd>
                </div>
                <div>
                    <dt>"Contratos"</dt>
                    <dd data-stat="contratos">{format::integer(ov.contracts)}</dd>
                </div>
                <div>
                    <dt>"Importações"</dt>
                    <dd data-stat="importacoes">{format::integer(ov.imports_total())}</dd>
                </div>
            </dl>
            <table class="table status-table">
                    <caption>"Importações por situação"</caption>
                    <thead>
                        <tr>
                            <th scope="col">"Situação"</th>
                            <th scope="col" class="num">"Quantidade"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {rows
                            .iter()
                            .map(|(status, n)| {
                                view! {
                                    <tr>
                                        <td>
                                            <span class=format!(
                                                "badge badge-{}",
                                                status.as_str(),
                                            )>{status.label_pt()}</span>
                                        </td>
                                        <td class="num">{format::integer(*n)}</td>
                                    </tr>
                                }
                            })
                            .collect_view()}
                    </tbody>
            </table>
        </article>
    }
}
