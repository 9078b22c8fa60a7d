//! Pages whose features are not built yet. Each says so plainly instead of
//! showing invented data.

use leptos::prelude::*;
use leptos_meta::Title;

#[component]
fn NotYetAvailable(title: &'static str, purpose: &'static str) -> impl IntoView {
    view! {
        <Title text=title/>
        <section class="page">
            <header class="page-header">
                <h1>{title}</h1>
            </header>
            <div class="empty-state" role="status">
                <p class="empty-title">"Esta página ainda não está disponível nesta versão."</p>
                <p>{purpose}</p>
            </div>
        </section>
    }
}

#[component]
pub fn CustomersPage() -> impl IntoView {
    view! {
        <NotYetAvailable
            title="Clientes"
            purpose="Aqui você vai consultar os clientes e contratos importados do SGP."
        />
    }
}
