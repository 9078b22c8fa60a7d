//! Server function of the customers page.

use leptos::prelude::*;
use server_fn::codec::Postcard;

use super::error::UiError;
use crate::model::CustomerPage;

pub const PAGE_SIZE: u32 = 20;

#[server(endpoint = "customers", output = Postcard)]
pub async fn list_customers(
    q: String,
    status: String,
    situation: String,
    page: u32,
) -> Result<CustomerPage, UiError> {
    use super::session::caller;
    use crate::server::services::customers;

    let (state, p) = caller().await?;
    let page = page.clamp(1, 1_000_000);
    let search = Some(q).filter(|q| !q.trim().is_empty());
    Ok(customers::list(
        &state,
        &p,
        search,
        Some(status.as_str()),
        Some(situation.as_str()),
        PAGE_SIZE,
        u64::from(page - 1) * u64::from(PAGE_SIZE),
    )
    .await?)
}
