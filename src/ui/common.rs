//! Small pieces every page uses: the error box, the loading line, the pager.

use leptos::prelude::*;

/// An error the admin can act on, announced to screen readers.
#[component]
pub fn ErrorAlert(#[prop(into)] message: String) -> impl IntoView {
    view! { <div class="alert alert-error" role="alert">{message}</div> }
}

/// The `<Transition>` fallback of every page.
#[component]
pub fn Loading() -> impl IntoView {
    view! { <p class="loading" role="status">"Carregando…"</p> }
}

/// Previous / "Página n de m" / next, as plain links (the page lives in
/// the URL). `href` builds the link of a page number.
#[component]
pub fn Pager(
    page: u32,
    pages: u32,
    label: &'static str,
    href: impl Fn(u32) -> String + 'static,
) -> impl IntoView {
    let prev = (page > 1).then(|| href(page - 1));
    let next = (page < pages).then(|| href(page + 1));
    view! {
        <nav class="pager" aria-label=label>
            {prev.map(|h| view! { <a href=h rel="prev">"← Anterior"</a> })}
            <span>{format!("Página {page} de {pages}")}</span>
            {next.map(|h| view! { <a href=h rel="next">"Próxima →"</a> })}
        </nav>
    }
}
