//! What imports changed: the details modal's "O que mudou" tab and a
//! customer's "Histórico". The server draws each page of changes as
//! markup (`api::changes`); this places it and follows clicks on its
//! buttons (a kind chip, a page), so no per-row view code is in the bundle.

use leptos::prelude::*;

use crate::api::changes::{changes, ChangesOf};
use crate::ui::common::Loaded;

/// An import's changes, by kind, a page at a time.
#[component]
pub fn ImportChanges(id: String) -> impl IntoView {
    let kind = RwSignal::new(String::new());
    let page = RwSignal::new(1u32);
    let html = super::resource::resource(
        move || (kind.get(), page.get()),
        move |(k, n)| changes(ChangesOf::Import(id.clone(), k), n),
    );
    view! {
        <div class="changes-view" on:click=move |ev| follow(&ev, Some(kind), page)>
            <Loaded resource=html let:h>
                <div inner_html=h></div>
            </Loaded>
        </div>
    }
}

/// A customer's changes, loaded when the admin asks for them.
#[component]
pub fn CustomerHistory(id: i64) -> impl IntoView {
    // 0: not asked for yet
    let page = RwSignal::new(0u32);
    let html = super::resource::resource(
        move || page.get(),
        move |n| async move {
            if n == 0 {
                return Ok(String::new());
            }
            changes(ChangesOf::Customer(id), n).await
        },
    );
    view! {
        <div class="history" on:click=move |ev| follow(&ev, None, page)>
            <button type="button" class="btn btn-small btn-secondary"
                on:click=move |_| page.update(|p| *p = (*p).max(1))>
                "Histórico"
            </button>
            <Loaded resource=html let:h>
                <div inner_html=h></div>
            </Loaded>
        </div>
    }
}

/// A click inside the server's markup: a chip (`data-tipo`) picks a kind
/// and goes back to the first page; a pager button (`data-pagina`) moves.
fn follow(ev: &leptos::ev::MouseEvent, kind: Option<RwSignal<String>>, page: RwSignal<u32>) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let Some(target) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        else {
            return;
        };
        let Ok(Some(button)) = target.closest("button[data-tipo], button[data-pagina]") else {
            return;
        };
        if let (Some(kind), Some(k)) = (kind, button.get_attribute("data-tipo")) {
            kind.set(k);
            page.set(1);
        } else if let Some(n) = button
            .get_attribute("data-pagina")
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| *n >= 1)
        {
            page.set(n);
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (ev, kind, page);
}
