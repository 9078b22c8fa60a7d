//! Server functions of what imports changed: an import's "O que mudou",
//! a customer's "Histórico", and confirming a held removal. The lists are
//! drawn here, on the server, as markup the page places (like the charts):
//! the browser carries no wording tables and no per-row view code.

use leptos::prelude::*;
use server_fn::codec::Postcard;

use super::error::UiError;
use crate::model::JobSummary;

/// Changes per page of the lists.
pub const PAGE_SIZE: u32 = 20;

#[cfg(feature = "ssr")]
mod ssr {
    use super::PAGE_SIZE;
    use crate::model::{ChangeKind, ChangePage};
    use crate::ui::format;

    // text for HTML: SGP's names go in escaped
    use crate::server::markup::escape as esc;

    /// A page of changes as markup: with `kind` (the filter shown), the
    /// counts in words and one chip per kind present first. Buttons carry
    /// `data-tipo` or `data-pagina`; the page reacts to their clicks.
    pub fn html(p: &ChangePage, kind: Option<Option<ChangeKind>>) -> String {
        let mut out = String::new();
        if let Some(current) = kind {
            let summary = p
                .counts
                .summary_pt()
                .unwrap_or_else(|| "Esta importação não mudou nenhum cliente.".into());
            out.push_str(&format!(
                r#"<p class="change-summary" data-testid="resumo-alteracoes">{}</p>"#,
                esc(&summary)
            ));
            let present: Vec<ChangeKind> = ChangeKind::ALL
                .into_iter()
                .filter(|k| p.counts.of(*k) > 0)
                .collect();
            if !present.is_empty() {
                out.push_str(
                    r#"<div class="chips" role="group" aria-label="Filtrar por tipo de alteração">"#,
                );
                out.push_str(&format!(
                    r#"<button type="button" class="chip" data-tipo="" aria-pressed="{}">Todas</button>"#,
                    current.is_none()
                ));
                for k in present {
                    out.push_str(&format!(
                        r#"<button type="button" class="chip" data-tipo="{}" aria-pressed="{}">{} ({})</button>"#,
                        k.as_str(),
                        current == Some(k),
                        k.label_pt(),
                        format::integer(p.counts.of(k))
                    ));
                }
                out.push_str("</div>");
            }
        }
        if p.changes.is_empty() {
            out.push_str(r#"<p class="muted">Nenhuma alteração registrada.</p>"#);
            return out;
        }
        out.push_str(&format!(
            r#"<table class="table changes"><caption>{} alterações</caption><thead><tr><th scope="col">Quando</th><th scope="col">Cliente</th><th scope="col">Tipo</th><th scope="col">O que mudou</th></tr></thead><tbody>"#,
            format::integer(p.total)
        ));
        for c in &p.changes {
            out.push_str(&format!(
                r#"<tr data-tipo="{}"><td>{}</td><td>{} ({})</td><td>{}</td><td>{}</td></tr>"#,
                c.kind.as_str(),
                format::date_time(c.at),
                esc(&c.customer_name),
                esc(&c.customer_key),
                c.kind.label_pt(),
                esc(&c.describe_pt())
            ));
        }
        out.push_str("</tbody></table>");
        let page = (p.offset / u64::from(PAGE_SIZE)) as u32 + 1;
        let pages = p.total.div_ceil(u64::from(PAGE_SIZE)).max(1) as u32;
        if pages > 1 {
            let button = |to: u32, enabled: bool, label: &str| {
                format!(
                    r#"<button type="button" class="btn btn-small btn-secondary" data-pagina="{to}"{}>{label}</button>"#,
                    if enabled { "" } else { " disabled" }
                )
            };
            out.push_str(&format!(
                r#"<nav class="pager" aria-label="Páginas de alterações">{}<span>Página {page} de {pages}</span>{}</nav>"#,
                button(page.saturating_sub(1), page > 1, "← Anterior"),
                button(page + 1, page < pages, "Próxima →")
            ));
        }
        out
    }

    pub fn offset(page: u32) -> u64 {
        u64::from(page.clamp(1, 1_000_000) - 1) * u64::from(PAGE_SIZE)
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::model::{ChangeCounts, CustomerChange, JobId};

        #[test]
        fn names_from_sgp_are_escaped_and_buttons_say_where_they_go() {
            let change = CustomerChange {
                id: 1,
                job_id: JobId::new(),
                customer_id: 1,
                customer_key: "7".into(),
                customer_name: "<script>alert(1)</script> & Cia".into(),
                kind: ChangeKind::CustomerCreated,
                contract_key: None,
                old_value: None,
                new_value: None,
                at: chrono::Utc::now(),
            };
            let page = ChangePage {
                changes: vec![change],
                total: 45,
                limit: PAGE_SIZE,
                offset: 20,
                counts: ChangeCounts {
                    by_kind: vec![(ChangeKind::CustomerCreated, 45)],
                    status_to: vec![],
                },
            };
            let with_kinds = html(&page, Some(Some(ChangeKind::CustomerCreated)));
            assert!(!with_kinds.contains("<script>"));
            assert!(with_kinds.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; Cia (7)"));
            assert!(with_kinds
                .contains(r#"data-tipo="cliente_criado" aria-pressed="true">Cliente novo (45)"#));
            assert!(with_kinds.contains(r#"data-tipo="" aria-pressed="false">Todas"#));
            assert!(with_kinds.contains(r#"data-pagina="1">← Anterior"#));
            assert!(with_kinds.contains(r#"data-pagina="3">Próxima →"#));
            assert!(with_kinds.contains("Página 2 de 3"));
            // a customer's history has no chips
            assert!(!html(&page, None).contains("chip"));
        }
    }
}

/// Where the changes listed come from: an import's (with a filter by
/// kind) or a customer's.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ChangesOf {
    /// The job's id and a kind's API name (empty for all).
    Import(String, String),
    Customer(i64),
}

/// A page of changes, drawn as markup: an import's by kind, or a
/// customer's newest first.
#[server(endpoint = "changes", output = Postcard)]
pub async fn changes(of: ChangesOf, page: u32) -> Result<String, UiError> {
    use super::session::caller;
    use crate::model::ChangeKind;
    use crate::server::services::imports;

    let (state, p) = caller().await?;
    match of {
        ChangesOf::Import(id, kind) => {
            let id = super::imports::ssr::job_id(&id)?;
            // an unknown kind in a hand-edited request shows every kind
            let kind = ChangeKind::parse(kind.trim());
            let page = imports::changes(&state, &p, id, kind, PAGE_SIZE, ssr::offset(page)).await?;
            Ok(ssr::html(&page, Some(kind)))
        }
        ChangesOf::Customer(id) => {
            let page =
                imports::customer_history(&state, &p, id, PAGE_SIZE, ssr::offset(page)).await?;
            Ok(ssr::html(&page, None))
        }
    }
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
