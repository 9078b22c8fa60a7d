//! Server functions of what imports changed: an import's "O que mudou",
//! a customer's "Histórico", and confirming a held removal. The changes
//! are put in words here, on the server, so the browser carries no
//! wording tables.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use server_fn::codec::Postcard;

use super::error::UiError;
use crate::model::JobSummary;

/// Changes per page of the lists.
pub const PAGE_SIZE: u32 = 20;

/// One change as a list row shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangeView {
    pub customer: String,
    /// The kind's label ("Status do contrato").
    pub kind: String,
    /// The kind's API name, for styling (`contrato_status`).
    pub slug: String,
    /// "Contrato 1002: Ativo → Suspenso".
    pub text: String,
    /// `DD/MM/AAAA HH:MM`, Brasília.
    pub at: String,
}

/// A filter chip: one kind and how many changes of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KindCount {
    pub slug: String,
    pub label: String,
    pub count: u64,
}

/// A page of changes, in words.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangesView {
    /// "12 contratos suspensos, 3 reativados..."; `None` when nothing changed.
    pub summary: Option<String>,
    /// The kinds present, with their counts (empty for a customer's history).
    pub kinds: Vec<KindCount>,
    pub rows: Vec<ChangeView>,
    pub total: u64,
    pub page: u32,
    pub pages: u32,
}

#[cfg(feature = "ssr")]
mod ssr {
    use super::{ChangeView, ChangesView, KindCount, PAGE_SIZE};
    use crate::model::{ChangeKind, ChangePage};
    use crate::ui::format;

    pub fn view(p: ChangePage, with_kinds: bool) -> ChangesView {
        let page = (p.offset / u64::from(PAGE_SIZE)) as u32 + 1;
        let kinds = if with_kinds {
            ChangeKind::ALL
                .iter()
                .map(|k| KindCount {
                    slug: k.as_str().to_owned(),
                    label: k.label_pt().to_owned(),
                    count: p.counts.of(*k),
                })
                .filter(|k| k.count > 0)
                .collect()
        } else {
            Vec::new()
        };
        ChangesView {
            summary: p.counts.summary_pt(),
            kinds,
            rows: p
                .changes
                .iter()
                .map(|c| ChangeView {
                    customer: format!("{} ({})", c.customer_name, c.customer_key),
                    kind: c.kind.label_pt().to_owned(),
                    slug: c.kind.as_str().to_owned(),
                    text: c.describe_pt(),
                    at: format::date_time(c.at),
                })
                .collect(),
            total: p.total,
            page,
            pages: p.total.div_ceil(u64::from(PAGE_SIZE)).max(1) as u32,
        }
    }

    pub fn offset(page: u32) -> u64 {
        u64::from(page.clamp(1, 1_000_000) - 1) * u64::from(PAGE_SIZE)
    }
}

/// A page of an import's changes: `kind` one API name, or empty for all.
#[server(endpoint = "import_changes", output = Postcard)]
pub async fn import_changes(id: String, kind: String, page: u32) -> Result<ChangesView, UiError> {
    use super::session::caller;
    use crate::model::ChangeKind;
    use crate::server::services::imports;

    let (state, p) = caller().await?;
    let id = super::imports::ssr::job_id(&id)?;
    // an unknown kind in a hand-edited request shows every kind
    let kind = ChangeKind::parse(kind.trim());
    let changes = imports::changes(&state, &p, id, kind, PAGE_SIZE, ssr::offset(page)).await?;
    Ok(ssr::view(changes, true))
}

/// A page of a customer's history, newest first.
#[server(endpoint = "customer_history", output = Postcard)]
pub async fn customer_history(id: i64, page: u32) -> Result<ChangesView, UiError> {
    use super::session::caller;
    use crate::server::services::imports;

    let (state, p) = caller().await?;
    let history = imports::customer_history(&state, &p, id, PAGE_SIZE, ssr::offset(page)).await?;
    Ok(ssr::view(history, false))
}

/// Marks what an import held back ("Confirmar remoções").
#[server(endpoint = "confirm_removals", output = Postcard)]
pub async fn confirm_removals(id: String) -> Result<JobSummary, UiError> {
    use super::session::caller;
    use crate::server::services::imports;

    let (state, p) = caller().await?;
    let id = super::imports::ssr::job_id(&id)?;
    Ok(imports::confirm_removals(&state, &p, id).await?)
}
