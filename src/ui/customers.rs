//! `/clientes`: the imported customers, searchable by name or CPF/CNPJ,
//! filtered by contract status and by whether SGP still has them,
//! paginated, each with contracts, plans and its history of changes.
//! Search, filters and page live in the URL.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::customers::{list_customers, PAGE_SIZE};
use crate::model::{ContractStatus, CustomerPage, StoredContract, StoredCustomer};
use crate::ui::changes::follow_customer_history;
use crate::ui::common::{Loaded, Pager};
use crate::ui::field::Field;
use crate::ui::format;

/// A stored contract status as admins read it; unknown text as is.
fn status_label(s: &str) -> String {
    ContractStatus::from_stored(s)
        .map(|c| c.label_pt().to_owned())
        .unwrap_or_else(|| s.to_owned())
}

/// The customers page's filters, as its URL carries them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filters {
    pub q: String,
    /// A contract status (`contrato`).
    pub contract: String,
    /// `removido`, `ativo` or empty (`situacao`).
    pub situation: String,
}

fn href(f: &Filters, page: u32) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_owned(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    format!(
        "/clientes?q={}&contrato={}&situacao={}&pagina={page}",
        enc(&f.q),
        enc(&f.contract),
        enc(&f.situation)
    )
}

#[component]
pub fn CustomersPage() -> impl IntoView {
    let query = use_query_map();
    let filters = Memo::new(move |_| {
        let q = query.read();
        Filters {
            q: q.get("q").unwrap_or_default(),
            contract: q.get("contrato").unwrap_or_default(),
            situation: q.get("situacao").unwrap_or_default(),
        }
    });
    let page = Memo::new(move |_| {
        query
            .read()
            .get("pagina")
            .and_then(|p| p.parse::<u32>().ok())
            .filter(|p| *p >= 1)
            .unwrap_or(1)
    });
    let customers = super::resource::resource(
        move || (filters.get(), page.get()),
        |(f, page)| list_customers(f.q, f.contract, f.situation, page),
    );
    let contract = move || filters.read().contract.clone();
    let situation = move || filters.read().situation.clone();
    view! {
        <Title text="Clientes"/>
        <section class="page">
            <header class="page-header">
                <div>
                    <h1>"Clientes"</h1>
                    <p class="subtitle">"Clientes importados do SGP, com contratos e planos."</p>
                </div>
            </header>
            <form class="filters" method="get" action="/clientes" role="search">
                <Field id="busca" name="q" label="Buscar por nome ou CPF/CNPJ" kind="search"
                    value=Signal::derive(move || filters.read().q.clone())/>
                <div class="field">
                    <label for="contrato">"Situação do contrato"</label>
                    <select id="contrato" name="contrato">
                        <option value="" selected=move || contract().is_empty()>"Todas"</option>
                        {ContractStatus::ALL
                            .map(|c| {
                                view! {
                                    <option value=c.as_str() selected=move || contract() == c.as_str()>
                                        {c.label_pt()}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                </div>
                <div class="field">
                    <label for="situacao">"No SGP"</label>
                    <select id="situacao" name="situacao">
                        {[("", "Todos"), ("ativo", "Ainda no SGP"), ("removido", "Removidos do SGP")]
                            .map(|(value, label)| {
                                view! {
                                    <option value=value selected=move || situation() == value>{label}</option>
                                }
                            })
                            .collect_view()}
                    </select>
                </div>
                <button type="submit" class="btn">"Buscar"</button>
            </form>
            <Loaded resource=customers let:list>
                <div class="customers-view" inner_html=list
                    on:click=|ev| follow_customer_history(&ev)></div>
            </Loaded>
        </section>
    }
}

/// The count, the customers and the pager. Rendered on the server only
/// (`api::customers::list_customers`); the page follows the clicks on the
/// "Histórico" buttons.
#[component]
pub fn CustomerList(p: CustomerPage, filters: Filters) -> impl IntoView {
    let page = (p.offset / u64::from(PAGE_SIZE)) as u32 + 1;
    let pages = p.total.div_ceil(u64::from(PAGE_SIZE)).max(1) as u32;
    let freshness = index_note(&p);
    if p.customers.is_empty() {
        return view! {
            {freshness}
            <div class="empty-state" role="status">
                <p class="empty-title">"Nenhum cliente encontrado."</p>
                <p>"Ajuste a busca, ou importe clientes em " <a href="/integracoes">"Integrações"</a> "."</p>
            </div>
        }
        .into_any();
    }
    view! {
        <p class="muted" data-testid="total-clientes">
            {format::customer_count(p.total, p.total_exact)}
        </p>
        {freshness}
        <ul class="customer-list">
            {p.customers.into_iter().map(|c| view! { <CustomerItem c/> }).collect_view()}
        </ul>
        <Pager page pages label="Páginas de clientes" href=move |n| href(&filters, n)/>
    }
    .into_any()
}

/// For a large provider, whose list comes from the search index: when the
/// index was brought up to date, so an admin knows why a customer imported
/// a moment ago may not be listed yet.
fn index_note(p: &CustomerPage) -> Option<impl IntoView> {
    if !p.from_search_index {
        return None;
    }
    let text = match p.search_refreshed_at {
        Some(t) => format!(
            "Busca atualizada em {}. Clientes de uma importação em andamento aparecem \
             alguns segundos depois que ela termina.",
            format::date_time(t)
        ),
        None => "A busca deste provedor está sendo preparada depois da importação: \
                 os clientes aparecem aqui em instantes."
            .to_owned(),
    };
    Some(view! { <p class="muted" data-testid="busca-atualizada">{text}</p> })
}

#[component]
fn CustomerItem(c: StoredCustomer) -> impl IntoView {
    let place = [c.city.clone(), c.state.clone()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("/");
    view! {
        <li class="card customer">
            <details>
                <summary>
                    <span class="customer-name">{c.name.clone()}</span>
                    {c.removed_at.map(|t| view! {
                        <span class="badge badge-removed">{format!("Removido do SGP em {}", format::local_date(t))}</span>
                    })}
                    <span class="muted">{c.cpf_cnpj.clone().map(|d| document(&d)).unwrap_or_default()}</span>
                    <span class="muted">{place}</span>
                    <span class="muted">{format!("{} contrato(s)", c.contracts.len())}</span>
                </summary>
                <dl class="facts">
                    <div><dt>"Código SGP"</dt><dd>{c.sgp_key.clone()}</dd></div>
                    <div><dt>"Cadastro"</dt><dd>{c.signup_date.as_deref().map(format::iso_day).unwrap_or_default()}</dd></div>
                    <div class="wide"><dt>"E-mails"</dt><dd>{c.emails.join(", ")}</dd></div>
                    <div class="wide"><dt>"Telefones"</dt><dd>{c.phones.join(", ")}</dd></div>
                </dl>
                <table class="table">
                    <caption>"Contratos"</caption>
                    <thead><tr><th scope="col">"Contrato"</th><th scope="col">"Situação"</th><th scope="col">"Planos"</th></tr></thead>
                    <tbody>
                        {c.contracts.iter().map(|k| view! { <ContractRow k=k.clone()/> }).collect_view()}
                    </tbody>
                </table>
                <div class="history" data-cliente=c.id.to_string()>
                    <button type="button" class="btn btn-small btn-secondary" data-historico="">
                        "Histórico"
                    </button>
                    <div class="history-body"></div>
                </div>
            </details>
        </li>
    }
}

#[component]
fn ContractRow(k: StoredContract) -> impl IntoView {
    let plans: Vec<String> = k.services.iter().filter_map(|s| s.plan.clone()).collect();
    view! {
        <tr>
            <td>{k.sgp_key.clone()}</td>
            <td>
                <span class=format!("badge badge-contract-{}", k.status)>{status_label(&k.status)}</span>
                {k.removed_at.map(|t| view! {
                    " " <span class="badge badge-removed">{format!("Removido do SGP em {}", format::local_date(t))}</span>
                })}
            </td>
            <td>{if plans.is_empty() { "—".to_owned() } else { plans.join(", ") }}</td>
        </tr>
    }
}

/// `12345678901` → `123.456.789-01`; 14 digits as a CNPJ.
fn document(d: &str) -> String {
    let d: String = d.chars().filter(char::is_ascii_digit).collect();
    match d.len() {
        11 => format!("{}.{}.{}-{}", &d[..3], &d[3..6], &d[6..9], &d[9..]),
        14 => format!(
            "{}.{}.{}/{}-{}",
            &d[..2],
            &d[2..5],
            &d[5..8],
            &d[8..12],
            &d[12..]
        ),
        _ => d,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hostile SGP's words in every field the list shows: the markup the
    /// server sends for `inner_html` carries them as text, never as tags.
    #[cfg(feature = "ssr")]
    #[test]
    fn the_list_drawn_on_the_server_escapes_sgp_text() {
        use crate::model::{StoredContract, StoredService};
        let evil = |field: &str| format!(r#"<img src=x onerror="alert('{field}')">"#);
        let customer = StoredCustomer {
            id: 7,
            sgp_key: evil("key"),
            sgp_id: Some(7),
            name: evil("name"),
            cpf_cnpj: Some(evil("doc")),
            person_type: None,
            signup_date: None,
            notes: Some(evil("notes")),
            street: None,
            number: None,
            complement: None,
            district: None,
            city: Some(evil("city")),
            state: Some(evil("state")),
            zip: None,
            latitude: None,
            longitude: None,
            emails: vec![evil("email")],
            phones: vec![evil("phone")],
            removed_at: None,
            contracts: vec![StoredContract {
                sgp_key: evil("contract"),
                status: evil("status"),
                status_raw: None,
                signup_date: None,
                services: vec![StoredService {
                    plan: Some(evil("plan")),
                    ..StoredService::default()
                }],
                removed_at: None,
            }],
        };
        let p = CustomerPage {
            customers: vec![customer],
            total: 1,
            total_exact: true,
            limit: 20,
            offset: 0,
            search_refreshed_at: None,
            from_search_index: false,
        };
        let filters = Filters {
            q: evil("q"),
            ..Filters::default()
        };
        let html = crate::server::markup::render(move || view! { <CustomerList p filters/> });
        assert!(!html.contains("<img"), "{html}");
        // each field is there, as text
        for field in ["name", "email", "phone", "contract", "plan", "city", "key"] {
            assert!(
                html.contains(&format!("alert('{field}')")),
                "{field}: {html}"
            );
        }
        assert!(html.contains(r#"data-cliente="7""#), "{html}");
    }

    #[test]
    fn documents_and_links_are_formatted() {
        assert_eq!(document("12345678901"), "123.456.789-01");
        assert_eq!(document("12345678000199"), "12.345.678/0001-99");
        let f = |q: &str, contract: &str, situation: &str| Filters {
            q: q.into(),
            contract: contract.into(),
            situation: situation.into(),
        };
        assert_eq!(
            href(&f("ana maria", "ativo", "removido"), 2),
            "/clientes?q=ana+maria&contrato=ativo&situacao=removido&pagina=2"
        );
        assert_eq!(
            href(&f("joão", "", ""), 1),
            "/clientes?q=jo%C3%A3o&contrato=&situacao=&pagina=1"
        );
    }
}
