//! `/integracoes`: the provider's SGP connection (saved, masked, tested)
//! and the import form with preview; "Importar Clientes" queues the job,
//! shows its live progress for 30 seconds, then goes to the dashboard.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::error::UiError;
use crate::api::imports::{ImportForm, PreviewImport, StartImport};
use crate::api::integration::{get_integration, IntegrationForm, SaveIntegration, TestIntegration};
use crate::model::{IntegrationView, Preview};
use crate::ui::common::{ErrorAlert, Loaded};
use crate::ui::field::{action_errors, Field, FieldError, FormErrors};
use crate::ui::format;
use crate::ui::live_progress::LiveProgress;
use crate::ui::notifications::NotificationsCard;
use crate::ui::schedule::ScheduleCard;
use crate::ui::server_form::{Fields, ServerForm};

#[component]
pub fn IntegrationsPage() -> impl IntoView {
    let save = ServerAction::<SaveIntegration>::new();
    // the saved connection is read again after a save that went through
    // only: a refused one leaves what the admin typed on screen, next to
    // the errors about it
    let saves_done = RwSignal::new(0u32);
    Effect::new(move |_| {
        if matches!(save.value().get(), Some(Ok(_))) {
            saves_done.update(|n| *n += 1);
        }
    });
    let settings = super::resource::resource(move || saves_done.get(), |_| get_integration());
    view! {
        <Title text="Integrações"/>
        <section class="page">
            <header class="page-header">
                <div>
                    <h1>"Integrações"</h1>
                    <p class="subtitle">"Conexão com o SGP do provedor e importação de clientes."</p>
                </div>
            </header>
            // only the connection card is drawn again after a save: the
            // import form, a live progress and the other cards keep theirs
            <div class="two-columns">
                <Loaded resource=settings let:current>
                    <SettingsCard current save/>
                </Loaded>
                <ImportCard/>
                <ScheduleCard/>
                <NotificationsCard/>
            </div>
        </section>
    }
}

#[component]
fn SettingsCard(
    current: Option<IntegrationView>,
    save: ServerAction<SaveIntegration>,
) -> impl IntoView {
    let test = ServerAction::<TestIntegration>::new();
    let saved = current.clone().unwrap_or_default();
    let value = move || save.value().get();
    let errors = action_errors(save);
    view! {
        <article class="card" aria-labelledby="conexao-sgp">
            <h2 id="conexao-sgp">"Conexão com o SGP"</h2>
            {current
                .as_ref()
                .and_then(|c| c.last_test_message.clone().map(|m| (c.last_test_ok, m)))
                .map(|(ok, m)| {
                    let class = if ok == Some(true) { "muted" } else { "error-text" };
                    view! { <p class=class>"Último teste: " {m}</p> }
                })}
            <ServerForm action=save read=read_settings class="form" novalidate=true>
                <Field id="base_url" name="form[base_url]" label="URL do SGP" kind="url" required=true
                    value=saved.base_url.clone() placeholder="https://sgp.seuprovedor.com.br"
                    hint="Ao mudar o protocolo, o domínio ou a porta, informe o token ou a senha de novo: \
                          as credenciais salvas só são enviadas ao endereço em que foram cadastradas."
                    errors/>
                <AuthFields saved=saved.clone() errors/>
                {move || {
                    value().map(|r| match r {
                        Ok(_) => view! { <div class="alert alert-success" role="status">"Conexão salva."</div> }.into_any(),
                        Err(e) => view! { <ErrorAlert message=e.message/> }.into_any(),
                    })
                }}
                <div class="actions">
                    <button type="submit" class="btn" disabled=move || save.pending().get()>"Salvar conexão"</button>
                    <button type="button" class="btn btn-secondary" disabled=move || test.pending().get()
                        on:click=move |_| { test.dispatch(TestIntegration {}); }>
                        {move || if test.pending().get() { "Testando…" } else { "Testar conexão" }}
                    </button>
                </div>
            </ServerForm>
            {move || {
                test.value().get().map(|r| match r {
                    Ok(t) if t.ok => view! { <div class="alert alert-success" role="status">{t.message}</div> }.into_any(),
                    Ok(t) => view! { <ErrorAlert message=t.message/> }.into_any(),
                    Err(e) => view! { <ErrorAlert message=e.message/> }.into_any(),
                })
            }}
        </article>
    }
}

/// The way SGP is logged into: token + app, or user + password. A secret
/// shows only its hint; left blank, the saved one is kept.
#[component]
fn AuthFields(saved: IntegrationView, errors: FormErrors) -> impl IntoView {
    let mode = RwSignal::new(if saved.auth_mode == "basic" {
        "basic"
    } else {
        "token"
    });
    let keep = |hint: Option<String>| {
        hint.map(|h| format!("{h} (deixe em branco para manter)"))
            .unwrap_or_default()
    };
    let token_placeholder = keep(saved.token_hint.clone());
    let password_placeholder = keep(saved.password_hint.clone());
    view! {
        <fieldset class="field">
            <legend>"Autenticação"</legend>
            <label class="radio">
                <input type="radio" name="form[auth_mode]" value="token"
                    prop:checked=move || mode.get() == "token" on:change=move |_| mode.set("token")/>
                "Token + app"
            </label>
            <label class="radio">
                <input type="radio" name="form[auth_mode]" value="basic"
                    prop:checked=move || mode.get() == "basic" on:change=move |_| mode.set("basic")/>
                "Usuário + senha"
            </label>
            <FieldError field="auth_mode" errors/>
        </fieldset>
        <Show when=move || mode.get() == "token">
            <Field id="app" name="form[app]" label="App" value=saved.app.clone().unwrap_or_default() errors/>
            <Field id="token" name="form[token]" label="Token" kind="password" autocomplete="off"
                placeholder=token_placeholder.clone() errors/>
        </Show>
        <Show when=move || mode.get() == "basic">
            <Field id="username" name="form[username]" label="Usuário" autocomplete="off"
                value=saved.username.clone().unwrap_or_default() errors/>
            <Field id="password" name="form[password]" label="Senha" kind="password"
                autocomplete="new-password" placeholder=password_placeholder.clone() errors/>
        </Show>
    }
}

/// The settings form's fields; a secret left blank keeps the saved one.
fn read_settings(f: &Fields) -> SaveIntegration {
    SaveIntegration {
        form: IntegrationForm {
            base_url: f.text("form[base_url]"),
            auth_mode: f.text("form[auth_mode]"),
            app: f.optional("form[app]"),
            token: f.optional("form[token]"),
            username: f.optional("form[username]"),
            password: f.optional("form[password]"),
        },
    }
}

#[component]
fn ImportCard() -> impl IntoView {
    let name = RwSignal::new(String::new());
    let only_active = RwSignal::new(false);
    let from = RwSignal::new(String::new());
    let to = RwSignal::new(String::new());
    let incremental = RwSignal::new(false);
    let form = move || ImportForm {
        name: name.get_untracked(),
        only_active: only_active.get_untracked().then(|| "on".to_owned()),
        signup_from: Some(from.get_untracked()),
        signup_to: Some(to.get_untracked()),
        incremental: incremental.get_untracked().then(|| "on".to_owned()),
    };
    let preview = ServerAction::<PreviewImport>::new();
    let start = ServerAction::<StartImport>::new();
    // a field error from whichever button was pressed last
    let last_error = RwSignal::new(None::<UiError>);
    Effect::new(move |_| {
        if let Some(Err(e)) = preview.value().get() {
            last_error.set(Some(e));
        }
    });
    Effect::new(move |_| {
        if let Some(r) = start.value().get() {
            last_error.set(r.err());
        }
    });
    let errors = FormErrors::from(last_error);
    let started = move || start.value().get().and_then(|r| r.ok());

    view! {
        <article class="card" aria-labelledby="importar">
            <h2 id="importar">"Importar clientes"</h2>
            <Show
                when=move || started().is_none()
                fallback=move || view! { <LiveProgress job=started().expect("shown only once started")/> }
            >
                <form class="form" novalidate on:submit=move |ev| {
                    ev.prevent_default();
                    start.dispatch(StartImport { form: form() });
                }>
                    <Field id="nome_importacao" label="Nome da importação" bind=name maxlength=120
                        placeholder="ex.: Migração inicial"
                        hint="Opcional: sem nome, a importação se chama \"Importação de\" e a data e a hora."
                        errors/>
                    <label class="checkbox">
                        <input type="checkbox" bind:checked=only_active/>
                        "Somente contratos ativos"
                    </label>
                    <div class="field-row">
                        <Field id="data_cadastro_inicio" label="Cadastro a partir de" kind="date" bind=from errors/>
                        <Field id="data_cadastro_fim" label="Cadastro até" kind="date" bind=to errors/>
                    </div>
                    <label class="checkbox">
                        <input type="checkbox" bind:checked=incremental/>
                        "Somente o que mudou desde a última importação concluída"
                    </label>
                    {move || {
                        last_error.get().filter(|e| e.fields.is_empty()).map(|e| {
                            view! { <ErrorAlert message=e.message/> }
                        })
                    }}
                    {move || preview.value().get().and_then(|r| r.ok()).map(|p| view! { <PreviewResult p/> })}
                    <div class="actions">
                        <button type="button" class="btn btn-secondary" disabled=move || preview.pending().get()
                            on:click=move |_| {
                                last_error.set(None);
                                preview.dispatch(PreviewImport { form: form() });
                            }>
                            {move || if preview.pending().get() { "Consultando o SGP…" } else { "Pré-visualizar" }}
                        </button>
                        <button type="submit" class="btn" disabled=move || start.pending().get()>
                            "Importar Clientes"
                        </button>
                    </div>
                </form>
            </Show>
        </article>
    }
}

/// What the preview found.
#[component]
fn PreviewResult(p: Preview) -> impl IntoView {
    let how = if p.exact {
        ""
    } else {
        " (estimativa pelas primeiras páginas)"
    };
    view! {
        <div class="alert alert-info" role="status" data-testid="previa">
            {format!(
                "{} clientes seriam importados: {} novos e {} já existentes{how}.",
                format::integer(p.total),
                format::integer(p.new),
                format::integer(p.existing),
            )}
        </div>
    }
}
