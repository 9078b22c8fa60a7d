use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::session::{Login, Password};
use crate::ui::common::ErrorAlert;
use crate::ui::field::Field;
use crate::ui::server_form::{Fields, ServerForm};

/// The login form. Works without JavaScript too: the server function
/// answers a plain form post with a redirect.
#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let error = move || login.value().get().and_then(|r| r.err()).map(|e| e.message);
    view! {
        <Title text="Entrar"/>
        <main id="conteudo" class="login-page">
            <section class="login-card" aria-labelledby="login-title">
                <div class="brand login-brand">
                    <span class="brand-mark" aria-hidden="true">"SGP"</span>
                    <span class="brand-name">"Importador"</span>
                </div>
                <h1 id="login-title">"Entrar"</h1>
                <ServerForm action=login read=read_login class="form" novalidate=true>
                    <input type="hidden" name="next" prop:value=next/>
                    <Field id="login-email" name="email" label="E-mail" kind="email"
                        autocomplete="username" required=true autofocus=true/>
                    <Field id="login-password" name="password" label="Senha" kind="password"
                        autocomplete="current-password" required=true/>
                    {move || {
                        error().map(|msg| view! { <ErrorAlert message=msg/> })
                    }}
                    <button type="submit" class="btn btn-primary" disabled=move || login.pending().get()>
                        {move || if login.pending().get() { "Entrando…" } else { "Entrar" }}
                    </button>
                </ServerForm>
            </section>
        </main>
    }
}

fn read_login(f: &Fields) -> Login {
    Login {
        email: f.text("email"),
        password: Password(f.text("password")),
        next: f.optional("next").filter(|n| !n.is_empty()),
    }
}
