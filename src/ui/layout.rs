use leptos::prelude::*;
use leptos_router::components::A;

/// Header with the product name and the main navigation, around each page.
#[component]
pub fn AppLayout(children: Children) -> impl IntoView {
    view! {
        <a class="skip-link" href="#conteudo">"Pular para o conteúdo"</a>
        <header class="topbar">
            <a class="brand" href="/">
                <span class="brand-mark" aria-hidden="true">"SGP"</span>
                <span class="brand-name">"Importador"</span>
            </a>
            <nav class="mainnav" aria-label="Navegação principal">
                <A href="/integracoes">"Integrações"</A>
                <A href="/dashboard/importacoes">"Importações"</A>
                <A href="/clientes">"Clientes"</A>
            </nav>
        </header>
        <main id="conteudo" class="content">{children()}</main>
    }
}
