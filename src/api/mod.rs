//! Server functions: the browser's way to the server. Each one checks the
//! caller (`session::caller`), calls the service layer shared with the REST
//! API, and turns failures into short messages an admin can act on; the
//! detail goes to the log.

pub mod changes;
pub mod customers;
pub mod error;
pub mod imports;
pub mod integration;
pub mod notifications;
pub mod overview;
pub mod schedule;
pub mod session;
pub mod tokens;
