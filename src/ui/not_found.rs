use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn NotFound() -> impl IntoView {
    // The server answers 404 for unknown pages, not 200 with an error text.
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Página não encontrada"/>
        <section class="page">
            <h1>"Página não encontrada"</h1>
            <p>"O endereço acessado não existe. Use o menu acima ou volte ao "
                <a href="/">"painel"</a>"."</p>
        </section>
    }
}
