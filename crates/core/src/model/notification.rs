//! Who hears about a provider's imports, and about what.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What can be announced, named as webhooks and the REST API spell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum NotificationEvent {
    ImportCompleted,
    ImportFailed,
    ImportCancelled,
    SchedulePaused,
    /// No successful import in the provider's chosen number of hours.
    NoSuccess,
    /// "Enviar teste": sent to one target on request.
    Test,
}

impl NotificationEvent {
    /// The events a target may subscribe to (the test is always allowed).
    pub const SUBSCRIBABLE: [NotificationEvent; 5] = [
        NotificationEvent::ImportCompleted,
        NotificationEvent::ImportFailed,
        NotificationEvent::ImportCancelled,
        NotificationEvent::SchedulePaused,
        NotificationEvent::NoSuccess,
    ];

    pub fn name(self) -> &'static str {
        match self {
            NotificationEvent::ImportCompleted => "importacao.concluida",
            NotificationEvent::ImportFailed => "importacao.falhou",
            NotificationEvent::ImportCancelled => "importacao.cancelada",
            NotificationEvent::SchedulePaused => "agendamento.pausado",
            NotificationEvent::NoSuccess => "sem_sucesso",
            NotificationEvent::Test => "teste",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::SUBSCRIBABLE
            .into_iter()
            .chain([NotificationEvent::Test])
            .find(|e| e.name() == name)
    }

    /// For people.
    pub fn label(self) -> &'static str {
        match self {
            NotificationEvent::ImportCompleted => "Importação concluída",
            NotificationEvent::ImportFailed => "Importação com erro",
            NotificationEvent::ImportCancelled => "Importação cancelada",
            NotificationEvent::SchedulePaused => "Sincronização pausada",
            NotificationEvent::NoSuccess => "Sem importação bem-sucedida",
            NotificationEvent::Test => "Teste",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Channel {
    Webhook,
    Email,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Webhook => "webhook",
            Channel::Email => "email",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "webhook" => Some(Channel::Webhook),
            "email" => Some(Channel::Email),
            _ => None,
        }
    }
}

/// A webhook URL or an e-mail address, with the events it wants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationTarget {
    pub id: Uuid,
    pub channel: Channel,
    pub address: String,
    pub events: Vec<NotificationEvent>,
}

/// A provider's notifications as the admin sets them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationInput {
    /// (URL, events)
    pub webhooks: Vec<(String, Vec<NotificationEvent>)>,
    /// (address, events)
    pub emails: Vec<(String, Vec<NotificationEvent>)>,
    /// Alert when no import succeeded in this many hours.
    pub no_success_hours: Option<u32>,
    /// Make a new webhook signing secret (the old one stops working).
    pub rotate_secret: bool,
}

/// A provider's notifications as the page and the API show them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationSettings {
    pub targets: Vec<NotificationTarget>,
    pub no_success_hours: Option<u32>,
    /// Whether a webhook signing secret exists (it is shown only once).
    pub has_secret: bool,
    /// The secret, only in the answer of the save that created or rotated it.
    pub new_secret: Option<String>,
    /// Whether the operator configured SMTP (e-mail targets need it).
    pub email_available: bool,
}

/// One delivery in the "Entregas" list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub job: super::JobSummary,
    pub channel: Channel,
    pub address: String,
    pub event: NotificationEvent,
}
