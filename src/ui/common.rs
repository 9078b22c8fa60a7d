//! Small pieces every page uses: the error box, the loading line, a
//! loaded value, the pager.

use leptos::prelude::*;
use serde::{de::DeserializeOwned, Serialize};

use crate::api::error::UiError;
use crate::ui::resource::Postcard64;

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

/// A page's data: "Carregando…" until it first arrives, then the error
/// box or the children with the value (`let:value`). Reloads keep the old
/// view until the new value is there.
#[component]
pub fn Loaded<T, V, F>(
    resource: Resource<Result<T, UiError>, Postcard64>,
    children: F,
) -> impl IntoView
where
    T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    V: IntoView + 'static,
    F: Fn(T) -> V + Send + Sync + 'static,
{
    view! {
        <Transition fallback=Loading>
            {move || {
                resource
                    .get()
                    .map(|result| match result {
                        Err(e) => view! { <ErrorAlert message=e.message/> }.into_any(),
                        Ok(value) => children(value).into_any(),
                    })
            }}
        </Transition>
    }
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
