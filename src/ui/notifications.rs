//! The "Notificações" card of `/integracoes`: webhooks and e-mails with
//! the events each wants, the silence alert, the signing secret (shown
//! once), "Enviar teste", and the latest deliveries.

use leptos::prelude::*;

use crate::api::error::UiError;
use crate::api::notifications::{
    get_notifications, list_deliveries, target_line, NotificationForm, SaveNotifications,
    TestNotification,
};
use crate::model::{Channel, Delivery, NotificationEvent, NotificationSettings};
use crate::ui::common::{ErrorAlert, Loaded};
use crate::ui::field::FieldError;
use crate::ui::format;
use crate::ui::progress::StatusBadge;

/// One target being edited.
#[derive(Clone)]
struct Row {
    key: u32,
    /// Saved targets have one ("Enviar teste" needs it).
    id: Option<String>,
    channel: Channel,
    address: RwSignal<String>,
    events: RwSignal<Vec<NotificationEvent>>,
}

#[component]
pub fn NotificationsCard() -> impl IntoView {
    let save = ServerAction::<SaveNotifications>::new();
    let saved = RwSignal::new(0u32);
    Effect::new(move |_| {
        if let Some(Ok(_)) = save.value().get() {
            saved.update(|n| *n += 1);
        }
    });
    let settings = super::resource::resource(move || saved.get(), |_| get_notifications());
    view! {
        <article class="card" aria-labelledby="notificacoes">
            <h2 id="notificacoes">"Notificações"</h2>
            <p class="muted">
                "Avise um sistema (webhook) ou uma pessoa (e-mail) quando uma importação termina, \
                 falha ou a sincronização automática para."
            </p>
            <Loaded resource=settings let:s>
                <NotificationsForm s save/>
            </Loaded>
            <Deliveries refresh=saved/>
        </article>
    }
}

#[component]
fn NotificationsForm(
    s: NotificationSettings,
    save: ServerAction<SaveNotifications>,
) -> impl IntoView {
    let next_key = StoredValue::new(0u32);
    let new_row = move |id: Option<String>, channel, address: String, events| {
        let key = next_key.get_value();
        next_key.set_value(key + 1);
        Row {
            key,
            id,
            channel,
            address: RwSignal::new(address),
            events: RwSignal::new(events),
        }
    };
    let rows = RwSignal::new(
        s.targets
            .iter()
            .map(|t| {
                new_row(
                    Some(t.id.to_string()),
                    t.channel,
                    t.address.clone(),
                    t.events.clone(),
                )
            })
            .collect::<Vec<_>>(),
    );
    let hours = RwSignal::new(
        s.no_success_hours
            .map(|h| h.to_string())
            .unwrap_or_default(),
    );
    let rotate = RwSignal::new(false);
    let errors = Signal::derive(move || save.value().get().and_then(|r| r.err()));
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let targets = rows
            .get_untracked()
            .iter()
            .map(|r| {
                target_line(
                    r.channel,
                    &r.address.get_untracked(),
                    &r.events.get_untracked(),
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        save.dispatch(SaveNotifications {
            form: NotificationForm {
                targets,
                no_success_hours: hours.get_untracked(),
                rotate_secret: rotate.get_untracked().then(|| "on".to_owned()),
            },
        });
    };
    let add = move |channel| {
        rows.update(|r| {
            r.push(new_row(
                None,
                channel,
                String::new(),
                vec![NotificationEvent::ImportFailed],
            ))
        })
    };
    let section = move |channel: Channel| {
        view! {
            <For
                each=move || rows.get().into_iter().filter(move |r| r.channel == channel)
                key=|r| r.key
                children=move |row| view! { <TargetRow row rows/> }
            />
        }
    };
    let email_available = s.email_available;
    view! {
        <form class="form" novalidate on:submit=submit>
            <fieldset class="field">
                <legend>"Webhooks"</legend>
                {section(Channel::Webhook)}
                <FieldError field="webhooks" errors/>
                <FieldError field="eventos" errors/>
                <button type="button" class="btn btn-secondary" on:click=move |_| add(Channel::Webhook)>
                    "Adicionar webhook"
                </button>
                {s.has_secret.then(|| view! {
                    <label class="checkbox">
                        <input type="checkbox" bind:checked=rotate/>
                        "Gerar um novo segredo de assinatura (o atual para de valer)"
                    </label>
                })}
            </fieldset>
            <fieldset class="field">
                <legend>"E-mails"</legend>
                {section(Channel::Email)}
                <FieldError field="emails" errors/>
                {if email_available {
                    view! {
                        <button type="button" class="btn btn-secondary" on:click=move |_| add(Channel::Email)>
                            "Adicionar e-mail"
                        </button>
                    }
                        .into_any()
                } else {
                    view! {
                        <p class="muted" data-testid="sem-smtp">
                            "O envio de e-mails não está configurado neste servidor (o operador define SMTP_URL e SMTP_FROM)."
                        </p>
                    }
                        .into_any()
                }}
            </fieldset>
            <div class="field">
                <label for="sem_sucesso_horas">"Avisar se nenhuma importação for concluída em (horas)"</label>
                <input id="sem_sucesso_horas" type="number" min="1" max="720" placeholder="ex.: 48"
                    aria-describedby="sem_sucesso_horas-erro"
                    prop:value=move || hours.get() on:input=move |ev| hours.set(event_target_value(&ev))/>
                <FieldError field="sem_sucesso_horas" errors/>
            </div>
            {move || {
                save.value().get().map(|r| match r {
                    Ok(saved) => match saved.new_secret {
                        Some(secret) => view! {
                            <div class="alert alert-success" role="status" data-testid="segredo">
                                <p>"Notificações salvas. Segredo de assinatura dos webhooks (copie agora: ele não será mostrado de novo):"</p>
                                <code>{secret}</code>
                            </div>
                        }
                            .into_any(),
                        None => view! { <div class="alert alert-success" role="status">"Notificações salvas."</div> }.into_any(),
                    },
                    Err(e) => view! { <FormProblem e/> }.into_any(),
                })
            }}
            <div class="actions">
                <button type="submit" class="btn" disabled=move || save.pending().get()>"Salvar notificações"</button>
            </div>
        </form>
    }
}

/// The answer's message when it names no field shown here.
#[component]
fn FormProblem(e: UiError) -> impl IntoView {
    e.fields
        .is_empty()
        .then(|| view! { <ErrorAlert message=e.message/> })
}

#[component]
fn TargetRow(row: Row, rows: RwSignal<Vec<Row>>) -> impl IntoView {
    let test = ServerAction::<TestNotification>::new();
    let (label, kind, placeholder) = match row.channel {
        Channel::Webhook => (
            "URL do webhook",
            "url",
            "https://sistema.provedor.com.br/ganchos/sgp",
        ),
        Channel::Email => ("E-mail", "email", "noc@provedor.com.br"),
    };
    let input_id = format!("destino-{}", row.key);
    let key = row.key;
    let address = row.address;
    let events = row.events;
    view! {
        <div class="target" data-channel=row.channel.as_str()>
            <div class="field">
                <label for=input_id.clone()>{label}</label>
                <input id=input_id type=kind placeholder=placeholder
                    prop:value=move || address.get() on:input=move |ev| address.set(event_target_value(&ev))/>
            </div>
            <div class="events" role="group" aria-label=format!("Eventos de {label}")>
                {NotificationEvent::SUBSCRIBABLE
                    .into_iter()
                    .map(|event| {
                        view! {
                            <label class="checkbox">
                                <input type="checkbox"
                                    prop:checked=move || events.get().contains(&event)
                                    on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        events.update(|list| {
                                            list.retain(|e| *e != event);
                                            if on {
                                                list.push(event);
                                            }
                                        });
                                    }/>
                                {event.label()}
                            </label>
                        }
                    })
                    .collect_view()}
            </div>
            <div class="actions">
                {row.id.clone().map(|id| view! {
                    <button type="button" class="btn btn-secondary" disabled=move || test.pending().get()
                        on:click=move |_| { test.dispatch(TestNotification { id: id.clone() }); }>
                        "Enviar teste"
                    </button>
                })}
                <button type="button" class="btn btn-link" on:click=move |_| rows.update(|r| r.retain(|x| x.key != key))>
                    "Remover"
                </button>
            </div>
            {move || {
                test.value().get().map(|r| match r {
                    Ok(()) => view! { <p class="alert alert-info" role="status">"Teste enviado; acompanhe em Entregas."</p> }.into_any(),
                    Err(e) => view! { <ErrorAlert message=e.message/> }.into_any(),
                })
            }}
        </div>
    }
}

/// The latest deliveries, read again on demand and after each save.
#[component]
fn Deliveries(refresh: RwSignal<u32>) -> impl IntoView {
    let tick = RwSignal::new(0u32);
    let list =
        super::resource::resource(move || (refresh.get(), tick.get()), |_| list_deliveries());
    view! {
        <section aria-labelledby="entregas" class="deliveries">
            <header class="section-header">
                <h3 id="entregas">"Entregas"</h3>
                <button type="button" class="btn btn-secondary" on:click=move |_| tick.update(|t| *t += 1)>
                    "Atualizar"
                </button>
            </header>
            <Loaded resource=list let:table>
                <div inner_html=table></div>
            </Loaded>
        </section>
    }
}

/// The deliveries' table; rendered on the server only (`list_deliveries`).
#[component]
pub fn DeliveriesTable(deliveries: Vec<Delivery>) -> impl IntoView {
    if deliveries.is_empty() {
        return view! { <p class="muted">"Nenhuma entrega ainda."</p> }.into_any();
    }
    view! {
        <table class="table">
            <thead>
                <tr>
                    <th scope="col">"Evento"</th>
                    <th scope="col">"Destino"</th>
                    <th scope="col">"Situação"</th>
                    <th scope="col">"Quando"</th>
                </tr>
            </thead>
            <tbody>
                {deliveries
                    .into_iter()
                    .map(|d| {
                        let attempts = format!("Tentativa {} de {}", d.job.attempt, d.job.max_attempts);
                        view! {
                            <tr>
                                <td>{d.event.label()}</td>
                                <td class="wrap">{d.address}</td>
                                <td>
                                    <StatusBadge status=d.job.status/>
                                    <p class="status-note">{attempts}</p>
                                    {d.job.last_error.map(|e| view! { <p class="status-note">{e}</p> })}
                                </td>
                                <td>{format::date_time(d.job.finished_at.unwrap_or(d.job.created_at))}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
