//! What imports changed: the details modal's "O que mudou" tab and a
//! customer's "Histórico". The server draws each page of changes as
//! markup (`api::changes`); this places it and follows clicks on its
//! buttons (a kind chip, a page), so no per-row view code is in the bundle.

use leptos::prelude::*;

use crate::api::changes::{changes, ChangesOf};
use crate::api::error::UiError;
use crate::ui::common::Loaded;
use crate::ui::resource::Postcard64;

/// A page of an import's changes, as the server drew it.
pub type ChangesPage = Resource<Result<String, UiError>, Postcard64>;

/// The page of `id`'s changes of the chosen kind and page, read while
/// `open` only. Kept by the caller, it outlives the views drawn from it:
/// a view drawn again shows the page it has instead of loading it again.
pub fn import_changes(
    id: String,
    open: RwSignal<bool>,
    kind: RwSignal<String>,
    page: RwSignal<u32>,
) -> ChangesPage {
    super::resource::resource(
        move || (open.get(), kind.get(), page.get()),
        move |(open, k, n)| {
            let id = id.clone();
            async move {
                if !open {
                    return Ok(String::new());
                }
                changes(ChangesOf::Import(id, k), n).await
            }
        },
    )
}

/// An import's changes, by kind, a page at a time (the page read and the
/// kind and page chosen are the caller's, see [`import_changes`]).
#[component]
pub fn ImportChanges(
    html: ChangesPage,
    kind: RwSignal<String>,
    page: RwSignal<u32>,
) -> impl IntoView {
    view! {
        <div class="changes-view" on:click=move |ev| follow(&ev, Some(kind), page)>
            <Loaded resource=html let:h>
                <div inner_html=h></div>
            </Loaded>
        </div>
    }
}

/// The customers list's "Histórico" boxes, in markup drawn on the server
/// (`<div class="history" data-cliente="{id}">` with a `data-historico`
/// button and a `.history-body`): a click on the button, or on a page of
/// the history, loads that page of the customer's changes into the box.
pub fn follow_customer_history(ev: &leptos::ev::MouseEvent) {
    #[cfg(feature = "hydrate")]
    {
        let Some(button) = clicked(ev, "button[data-historico], button[data-pagina]") else {
            return;
        };
        let Ok(Some(history)) = button.closest(".history[data-cliente]") else {
            return;
        };
        let page = if button.has_attribute("data-pagina") {
            let Some(n) = page_of(&button) else { return };
            n
        } else {
            1
        };
        let (Some(id), Ok(Some(body))) = (
            history
                .get_attribute("data-cliente")
                .and_then(|id| id.parse::<i64>().ok()),
            history.query_selector(".history-body"),
        ) else {
            return;
        };
        // the latest click wins: an older answer arriving late is dropped
        let seq = history
            .get_attribute("data-seq")
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0)
            .wrapping_add(1)
            .to_string();
        let _ = history.set_attribute("data-seq", &seq);
        body.set_inner_html(r#"<p class="loading" role="status">Carregando…</p>"#);
        leptos::task::spawn_local(async move {
            let answer = changes(ChangesOf::Customer(id), page).await;
            if history.get_attribute("data-seq").as_deref() != Some(seq.as_str()) {
                return;
            }
            match answer {
                Ok(html) => body.set_inner_html(&html),
                Err(e) => {
                    body.set_inner_html(r#"<div class="alert alert-error" role="alert"></div>"#);
                    if let Some(alert) = body.first_element_child() {
                        alert.set_text_content(Some(&e.message));
                    }
                }
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = ev;
}

/// A click inside the server's markup: a chip (`data-tipo`) picks a kind
/// and goes back to the first page; a pager button (`data-pagina`) moves.
fn follow(ev: &leptos::ev::MouseEvent, kind: Option<RwSignal<String>>, page: RwSignal<u32>) {
    #[cfg(feature = "hydrate")]
    {
        let Some(button) = clicked(ev, "button[data-tipo], button[data-pagina]") else {
            return;
        };
        if let (Some(kind), Some(k)) = (kind, button.get_attribute("data-tipo")) {
            kind.set(k);
            page.set(1);
        } else if let Some(n) = page_of(&button) {
            page.set(n);
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (ev, kind, page);
}

/// The button matching `selector` that a click in the server's markup hit.
#[cfg(feature = "hydrate")]
fn clicked(ev: &leptos::ev::MouseEvent, selector: &str) -> Option<web_sys::Element> {
    use wasm_bindgen::JsCast;
    ev.target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())?
        .closest(selector)
        .ok()
        .flatten()
}

/// A pager button's page (`data-pagina`, from 1).
#[cfg(feature = "hydrate")]
fn page_of(button: &web_sys::Element) -> Option<u32> {
    button
        .get_attribute("data-pagina")
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| *n >= 1)
}
