//! A fake SGP for development, demos, tests and benchmarks: a real HTTP
//! server that answers `/api/ura/clientes/` as live installations do
//! (docs: ../shared/docs/sgp-api.md), with deterministic Brazilian
//! customers, SGP's filters and pagination, credential checks, and every
//! quirk and fault a client must survive.

pub mod data;
pub mod receivers;
pub mod server;

pub use data::{Population, Quirks};
pub use server::{Credentials, FakeConfig, FakeSgp, Fault, Request};
