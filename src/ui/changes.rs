//! What imports changed: the details modal's "O que mudou" tab (counts
//! in words, a filter by kind, a paginated list) and the list a
//! customer's "Histórico" shares with it.

use leptos::prelude::*;

use crate::api::changes::{import_changes, ChangesView};
use crate::ui::common::Loaded;
use crate::ui::format;

/// An import's changes, by kind.
#[component]
pub fn ImportChanges(id: String) -> impl IntoView {
    let kind = RwSignal::new(String::new());
    let page = RwSignal::new(1u32);
    let changes = super::resource::resource(
        move || (kind.get(), page.get()),
        move |(k, n)| import_changes(id.clone(), k, n),
    );
    view! {
        <Loaded resource=changes let:v>
            <ChangeSummary v=v.clone() kind page/>
            <ChangeList view=v page/>
        </Loaded>
    }
}

/// "12 contratos suspensos, ..." and one chip per kind present.
#[component]
fn ChangeSummary(v: ChangesView, kind: RwSignal<String>, page: RwSignal<u32>) -> impl IntoView {
    let choose = move |slug: String| {
        kind.set(slug);
        page.set(1);
    };
    view! {
        <p class="change-summary" data-testid="resumo-alteracoes">
            {v.summary.clone().unwrap_or_else(|| "Esta importação não mudou nenhum cliente.".into())}
        </p>
        {(!v.kinds.is_empty()).then(|| view! {
            <div class="chips" role="group" aria-label="Filtrar por tipo de alteração">
                <button type="button" class="chip"
                    aria-pressed=move || kind.read().is_empty().to_string()
                    on:click=move |_| choose(String::new())>
                    "Todas"
                </button>
                {v.kinds
                    .iter()
                    .map(|k| {
                        let slug = k.slug.clone();
                        let pressed = slug.clone();
                        view! {
                            <button type="button" class="chip" data-tipo=k.slug.clone()
                                aria-pressed=move || (*kind.read() == pressed).to_string()
                                on:click=move |_| choose(slug.clone())>
                                {format!("{} ({})", k.label, format::integer(k.count))}
                            </button>
                        }
                    })
                    .collect_view()}
            </div>
        })}
    }
}

/// A page of changes as a table, with previous / next.
#[component]
pub fn ChangeList(view: ChangesView, page: RwSignal<u32>) -> impl IntoView {
    if view.rows.is_empty() {
        return view! { <p class="muted">"Nenhuma alteração registrada."</p> }.into_any();
    }
    let (current, pages) = (view.page, view.pages);
    view! {
        <table class="table changes">
            <caption>{format!("{} alterações", format::integer(view.total))}</caption>
            <thead>
                <tr><th scope="col">"Quando"</th><th scope="col">"Cliente"</th><th scope="col">"Tipo"</th><th scope="col">"O que mudou"</th></tr>
            </thead>
            <tbody>
                {view
                    .rows
                    .into_iter()
                    .map(|r| view! {
                        <tr data-tipo=r.slug>
                            <td>{r.at}</td>
                            <td>{r.customer}</td>
                            <td>{r.kind}</td>
                            <td>{r.text}</td>
                        </tr>
                    })
                    .collect_view()}
            </tbody>
        </table>
        {(pages > 1).then(|| view! {
            <nav class="pager" aria-label="Páginas de alterações">
                <button type="button" class="btn btn-small btn-secondary" disabled=current <= 1
                    on:click=move |_| page.set(current - 1)>"← Anterior"</button>
                <span>{format!("Página {current} de {pages}")}</span>
                <button type="button" class="btn btn-small btn-secondary" disabled=current >= pages
                    on:click=move |_| page.set(current + 1)>"Próxima →"</button>
            </nav>
        })}
    }
    .into_any()
}
