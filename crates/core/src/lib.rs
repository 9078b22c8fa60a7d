//! The parts of sgp-import that need no web framework: the types shared by
//! server and browser (`model`), and, under the `server` feature, settings,
//! time and storage. Keeping them here lets their tests build without Leptos.

pub mod model;

#[cfg(feature = "server")]
pub mod auth;
#[cfg(feature = "server")]
pub mod clock;
#[cfg(feature = "server")]
pub mod config;
#[cfg(feature = "server")]
pub mod import;
#[cfg(feature = "server")]
pub mod jobs;
#[cfg(feature = "server")]
pub mod notify;
#[cfg(feature = "server")]
pub mod outbound;
#[cfg(feature = "server")]
pub mod schedule;
#[cfg(feature = "server")]
pub mod sealing;
#[cfg(feature = "server")]
pub mod secret;
#[cfg(feature = "server")]
pub mod sgp;
#[cfg(feature = "server")]
pub mod store;
#[cfg(feature = "server")]
pub mod text;
