use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::tokens::{list_api_tokens, CreateApiToken, RevokeApiToken};
use crate::model::ApiTokenInfo;
use crate::ui::common::{ErrorAlert, Loaded};
use crate::ui::field::Field;
use crate::ui::format;
use crate::ui::server_form::{Fields, ServerForm};

/// The admin's account: API tokens for scripts, created and revoked here.
#[component]
pub fn AccountPage() -> impl IntoView {
    let create = ServerAction::<CreateApiToken>::new();
    let revoke = ServerAction::<RevokeApiToken>::new();
    let tokens = super::resource::resource(
        move || (create.version().get(), revoke.version().get()),
        |_| list_api_tokens(),
    );
    view! {
        <Title text="Conta"/>
        <section class="page">
            <header class="page-header">
                <div>
                    <h1>"Conta"</h1>
                    <p class="subtitle">
                        "Tokens de API para scripts: envie no cabeçalho "
                        <code>"Authorization: Bearer <token>"</code>
                        ". A documentação da API está em "
                        <a href="/api/openapi.json">"/api/openapi.json"</a>"."
                    </p>
                </div>
            </header>
            <article class="card" aria-labelledby="novo-token">
                <h2 id="novo-token">"Novo token"</h2>
                <ServerForm action=create read=read_create class="form inline-form">
                    <Field id="token-name" name="name" label="Nome do token" maxlength=80 required=true
                        placeholder="ex.: script de relatórios"/>
                    <div class="field">
                        <label for="token-days">"Validade"</label>
                        <select id="token-days" name="days">
                            <option value="">"Até ser revogado"</option>
                            <option value="30">"30 dias"</option>
                            <option value="90" selected>"90 dias"</option>
                            <option value="365">"1 ano"</option>
                        </select>
                    </div>
                    <button type="submit" class="btn">"Criar token"</button>
                </ServerForm>
                {move || {
                    create
                        .value()
                        .get()
                        .map(|result| match result {
                            Ok(created) => {
                                view! {
                                    <div class="alert alert-success" role="status">
                                        <p>
                                            "Token criado. Copie agora: ele não será mostrado de novo."
                                        </p>
                                        <code class="token-value" data-testid="novo-token">
                                            {created.token}
                                        </code>
                                    </div>
                                }
                                    .into_any()
                            }
                            Err(e) => {
                                view! { <ErrorAlert message=e.message/> }
                                    .into_any()
                            }
                        })
                }}
            </article>
            <Loaded resource=tokens let:list>
                <TokenList list revoke/>
            </Loaded>
        </section>
    }
}

/// The tokens, or a line saying there are none.
#[component]
fn TokenList(list: Vec<ApiTokenInfo>, revoke: ServerAction<RevokeApiToken>) -> impl IntoView {
    if list.is_empty() {
        view! { <p class="empty-state" role="status">"Nenhum token criado."</p> }.into_any()
    } else {
        view! { <TokenTable list revoke/> }.into_any()
    }
}

#[component]
fn TokenTable(list: Vec<ApiTokenInfo>, revoke: ServerAction<RevokeApiToken>) -> impl IntoView {
    view! {
        <table class="table">
            <caption>"Seus tokens"</caption>
            <thead>
                <tr>
                    <th scope="col">"Nome"</th>
                    <th scope="col">"Criado em"</th>
                    <th scope="col">"Último uso"</th>
                    <th scope="col">"Validade"</th>
                    <th scope="col">"Situação"</th>
                    <th scope="col"><span class="sr-only">"Ações"</span></th>
                </tr>
            </thead>
            <tbody>
                {list
                    .into_iter()
                    .map(|t| {
                        let id = t.id.to_string();
                        let revoked = t.revoked_at.is_some();
                        view! {
                            <tr>
                                <td>{t.name.clone()}</td>
                                <td>{format::date(t.created_at)}</td>
                                <td>{t.last_used_at.map(format::date).unwrap_or_else(|| "nunca".into())}</td>
                                <td>
                                    {t
                                        .expires_at
                                        .map(|at| format!("até {}", format::date(at)))
                                        .unwrap_or_else(|| "até ser revogado".into())}
                                </td>
                                <td>
                                    {if revoked {
                                        "revogado"
                                    } else if t.expired {
                                        "expirado"
                                    } else {
                                        "ativo"
                                    }}
                                </td>
                                <td>
                                    {(!revoked)
                                        .then(|| {
                                            view! {
                                                <ServerForm action=revoke read=read_revoke>
                                                    <input type="hidden" name="id" value=id.clone()/>
                                                    <button
                                                        type="submit"
                                                        class="btn btn-small btn-secondary"
                                                        aria-label=format!("Revogar {}", t.name)
                                                    >
                                                        "Revogar"
                                                    </button>
                                                </ServerForm>
                                            }
                                        })}
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

fn read_create(f: &Fields) -> CreateApiToken {
    CreateApiToken {
        name: f.text("name"),
        days: f.text("days"),
    }
}

fn read_revoke(f: &Fields) -> RevokeApiToken {
    RevokeApiToken { id: f.text("id") }
}
