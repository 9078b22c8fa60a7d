//! Notifications: who hears about a provider's imports (`service`), what
//! they hear (`payload`), how webhooks are signed (`signature`), the step
//! that announces each event once (`announcer`), and the job that delivers
//! one message, with the engine's retries and timeout (`delivery`).

pub mod announcer;
pub mod delivery;
pub mod payload;
pub mod service;
pub mod signature;

pub use announcer::Announcer;
pub use delivery::{DeliveryJob, DeliveryParams, Mailer, NOTIFICATION_KIND};
pub use service::{NotificationService, NotifyError};
