//! Server functions of the notifications section: settings, "Enviar
//! teste", and the deliveries list.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use server_fn::codec::Postcard;

use super::error::UiError;
use crate::model::{Channel, NotificationEvent, NotificationSettings};

/// The form as the page sends it: one target per line,
/// `channel<TAB>address<TAB>event,event` (flat text keeps the posted form
/// simple and the bundle free of a structured-form encoder).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NotificationForm {
    pub targets: String,
    pub no_success_hours: String,
    pub rotate_secret: Option<String>,
}

/// One target's line of [`NotificationForm::targets`].
pub fn target_line(channel: Channel, address: &str, events: &[NotificationEvent]) -> String {
    let events: Vec<&str> = events.iter().map(|e| e.name()).collect();
    format!(
        "{}\t{}\t{}",
        channel.as_str(),
        address.replace(['\t', '\n'], " "),
        events.join(",")
    )
}

/// Deliveries shown in the section.
pub const DELIVERIES_SHOWN: u32 = 10;

#[cfg(feature = "ssr")]
pub mod ssr {
    use super::NotificationForm;
    use crate::model::{Channel, NotificationInput};
    use crate::server::services::notifications;
    use sgp_import_core::import::FieldError;

    pub fn input(form: &NotificationForm) -> Result<NotificationInput, Vec<FieldError>> {
        let mut input = NotificationInput {
            rotate_secret: form.rotate_secret.is_some(),
            ..NotificationInput::default()
        };
        let mut errors = Vec::new();
        for line in form.targets.lines().filter(|l| !l.trim().is_empty()) {
            let mut parts = line.splitn(3, '\t');
            let (channel, address, names) = (parts.next(), parts.next(), parts.next());
            let channel = channel.and_then(Channel::parse);
            let field = match channel {
                Some(Channel::Email) => "emails",
                _ => "webhooks",
            };
            let names = names
                .unwrap_or_default()
                .split(',')
                .filter(|n| !n.trim().is_empty());
            let events = notifications::events(names, field, &mut errors);
            let address = address.unwrap_or_default().trim().to_owned();
            match channel {
                Some(Channel::Webhook) => input.webhooks.push((address, events)),
                Some(Channel::Email) => input.emails.push((address, events)),
                None => errors.push(FieldError::new(
                    "webhooks",
                    "Destino ilegível; recarregue a página.",
                )),
            }
        }
        let hours = form.no_success_hours.trim();
        if !hours.is_empty() {
            match hours.parse::<u32>() {
                Ok(h) => input.no_success_hours = Some(h),
                Err(_) => errors.push(FieldError::new(
                    "sem_sucesso_horas",
                    "Informe um número de horas (de 1 a 720) ou deixe em branco.",
                )),
            }
        }
        if errors.is_empty() {
            Ok(input)
        } else {
            Err(errors)
        }
    }
}

#[server(endpoint = "notifications", output = Postcard)]
pub async fn get_notifications() -> Result<NotificationSettings, UiError> {
    use super::session::caller;
    use crate::server::services::notifications;

    let (state, p) = caller().await?;
    Ok(notifications::get(&state, &p).await?)
}

#[server(endpoint = "save_notifications", output = Postcard)]
pub async fn save_notifications(form: NotificationForm) -> Result<NotificationSettings, UiError> {
    use super::session::caller;
    use crate::server::services::{notifications, ServiceError};

    let (state, p) = caller().await?;
    let input = ssr::input(&form).map_err(ServiceError::Invalid)?;
    Ok(notifications::save(&state, &p, input).await?)
}

#[server(endpoint = "test_notification", output = Postcard)]
pub async fn test_notification(id: String) -> Result<(), UiError> {
    use super::session::caller;
    use crate::server::services::{notifications, ServiceError};

    let (state, p) = caller().await?;
    let id = uuid::Uuid::parse_str(id.trim())
        .map_err(|_| ServiceError::bad_request("id", "Destino de notificação inválido."))?;
    notifications::test(&state, &p, id).await?;
    Ok(())
}

/// The latest deliveries as a table drawn on the server (read-only: the
/// page places it, with none of the table's code in the bundle).
#[server(endpoint = "deliveries", output = Postcard)]
pub async fn list_deliveries() -> Result<String, UiError> {
    use super::session::caller;
    use crate::server::services::notifications;
    use crate::ui::notifications::{DeliveriesTable, DeliveriesTableProps};

    let (state, p) = caller().await?;
    let (deliveries, _) = notifications::deliveries(&state, &p, DELIVERIES_SHOWN, 0).await?;
    Ok(crate::server::markup::render(|| {
        DeliveriesTable(DeliveriesTableProps { deliveries })
    }))
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;

    #[test]
    fn the_form_reads_back_every_target() {
        let form = NotificationForm {
            targets: [
                target_line(
                    Channel::Webhook,
                    "https://ganchos.test/a",
                    &[
                        NotificationEvent::ImportFailed,
                        NotificationEvent::NoSuccess,
                    ],
                ),
                target_line(Channel::Email, "noc@x.test", &[]),
            ]
            .join("\n"),
            no_success_hours: " 48 ".into(),
            rotate_secret: None,
        };
        let input = ssr::input(&form).unwrap();
        assert_eq!(
            input.webhooks,
            [(
                "https://ganchos.test/a".to_owned(),
                vec![
                    NotificationEvent::ImportFailed,
                    NotificationEvent::NoSuccess
                ]
            )]
        );
        assert_eq!(input.emails, [("noc@x.test".to_owned(), vec![])]);
        assert_eq!(input.no_success_hours, Some(48));
        let bad = NotificationForm {
            no_success_hours: "dois dias".into(),
            ..form
        };
        assert_eq!(ssr::input(&bad).unwrap_err()[0].field, "sem_sucesso_horas");
    }

    fn form(targets: &str) -> NotificationForm {
        NotificationForm {
            targets: targets.to_owned(),
            no_success_hours: String::new(),
            rotate_secret: None,
        }
    }

    /// An event the form does not know (a stale page, an edited request)
    /// is an error naming it on its channel's field, as in the REST API,
    /// not a target saved with fewer events than asked for.
    #[test]
    fn unknown_events_are_named_not_dropped() {
        let line = target_line(
            Channel::Email,
            "ops@neta.com.br",
            &[NotificationEvent::ImportFailed],
        );
        let ok = ssr::input(&form(&line)).expect("a known event");
        assert_eq!(ok.emails[0].1, vec![NotificationEvent::ImportFailed]);

        for bad in ["importacao.sumiu", "teste"] {
            let errors = ssr::input(&form(&format!(
                "webhook\thttps://ganchos.net.br/x\timportacao.falhou,{bad}"
            )))
            .unwrap_err();
            assert_eq!(errors.len(), 1, "{bad}");
            assert_eq!(errors[0].field, "webhooks");
            assert!(errors[0].message.contains(bad), "{}", errors[0].message);
        }
    }
}
