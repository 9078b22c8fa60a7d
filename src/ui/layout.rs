use leptos::prelude::*;
use leptos_router::components::{Outlet, A};

use crate::api::session::{current_session, ChooseProvider, Logout};
use crate::ui::server_form::{Fields, ServerForm};

/// Header with the product name, the main navigation and the signed-in
/// admin, around each page.
#[component]
pub fn AppLayout() -> impl IntoView {
    let session = super::resource::resource(|| (), |_| current_session());
    let logout = ServerAction::<Logout>::new();
    let choose = ServerAction::<ChooseProvider>::new();
    view! {
        <a class="skip-link" href="#conteudo">"Pular para o conteúdo"</a>
        <header class="topbar">
            <a class="brand" href="/">
                <span class="brand-mark" aria-hidden="true">"SGP"</span>
                <span class="brand-name">"Importador"</span>
            </a>
            <nav class="mainnav" aria-label="Navegação principal">
                <A href="/integracoes">"Integrações"</A>
                <A href="/dashboard/importacoes">"Status das Importações"</A>
                <A href="/clientes">"Clientes"</A>
            </nav>
            <Transition fallback=|| ()>
                {move || {
                    session
                        .get()
                        .and_then(|r| r.ok().flatten())
                        .map(|s| {
                            let provider_name = s
                                .provider
                                .as_ref()
                                .map(|(_, name)| name.clone())
                                .unwrap_or_else(|| "nenhum provedor escolhido".to_owned());
                            let current = s.provider.as_ref().map(|(slug, _)| slug.clone());
                            view! {
                                <div class="session" aria-label="Sessão">
                                    {if s.superadmin {
                                        view! {
                                            <ServerForm action=choose read=read_choice class="provider-picker">
                                                <label for="provider-slug" class="sr-only">"Provedor"</label>
                                                <select id="provider-slug" name="slug">
                                                    {s
                                                        .providers
                                                        .iter()
                                                        .map(|(slug, name)| {
                                                            view! {
                                                                <option
                                                                    value=slug.clone()
                                                                    selected=current.as_deref() == Some(slug.as_str())
                                                                >
                                                                    {name.clone()}
                                                                </option>
                                                            }
                                                        })
                                                        .collect_view()}
                                                </select>
                                                <button type="submit" class="btn btn-small">"Trocar"</button>
                                            </ServerForm>
                                        }
                                            .into_any()
                                    } else {
                                        view! { <span class="session-provider">{provider_name}</span> }
                                            .into_any()
                                    }}
                                    <a class="session-user" href="/conta" title=s.email.clone()>{s.name.clone()}</a>
                                    <ServerForm action=logout read=|_| Logout {} class="logout">
                                        <button type="submit" class="btn btn-small btn-secondary">"Sair"</button>
                                    </ServerForm>
                                </div>
                            }
                        })
                }}
            </Transition>
        </header>
        <main id="conteudo" class="content">
            <Outlet/>
        </main>
    }
}

fn read_choice(f: &Fields) -> ChooseProvider {
    ChooseProvider {
        slug: f.text("slug"),
    }
}
