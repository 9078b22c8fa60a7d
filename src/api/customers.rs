//! Server function of the customers page.

use leptos::prelude::*;
use server_fn::codec::Postcard;

use super::error::UiError;

pub const PAGE_SIZE: u32 = 20;

/// A page of customers, drawn on the server (`ui::customers::CustomerList`).
#[server(endpoint = "customers", output = Postcard)]
pub async fn list_customers(
    q: String,
    status: String,
    situation: String,
    page: u32,
) -> Result<String, UiError> {
    use super::session::caller;
    use crate::server::services::customers;
    use crate::ui::customers::{CustomerList, CustomerListProps, Filters};

    let (state, p) = caller().await?;
    let page = page.clamp(1, 1_000_000);
    let search = Some(q.clone()).filter(|q| !q.trim().is_empty());
    let list = customers::list(
        &state,
        &p,
        search,
        Some(status.as_str()),
        Some(situation.as_str()),
        PAGE_SIZE,
        u64::from(page - 1) * u64::from(PAGE_SIZE),
    )
    .await?;
    let filters = Filters {
        q,
        contract: status,
        situation,
    };
    Ok(crate::server::markup::render(|| {
        CustomerList(CustomerListProps { p: list, filters })
    }))
}
