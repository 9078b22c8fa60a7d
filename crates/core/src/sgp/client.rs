//! The SGP client: lists customers page by page and checks a connection.

use std::time::Duration;

use chrono::NaiveDate;
use serde_json::value::RawValue;
use serde_json::Value;

use super::auth::SgpAuth;
use super::base_url::SgpBaseUrl;
use super::customer::{ContractStatus, RowError, SgpCustomer};
use super::error::SgpError;
use super::wire::{Object, RawPage};
use crate::jobs::RetryPolicy;

/// SGP's page size: the docs say 500, installations in the wild cap at 100.
pub const PAGE_SIZE: u32 = 100;

const CUSTOMERS_PATH: &str = "api/ura/clientes/";

#[derive(Clone, Debug)]
pub struct SgpClientConfig {
    /// Per request; live SGPs take seconds per page.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Transient failures of one request are retried this many times.
    pub retries: u32,
    pub retry: RetryPolicy,
}

impl Default for SgpClientConfig {
    fn default() -> Self {
        SgpClientConfig {
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            retries: 5,
            retry: RetryPolicy {
                base: Duration::from_secs(2),
                max: Duration::from_secs(60),
                jitter: 0.2,
            },
        }
    }
}

/// Which customers to ask for: SGP's filters and one page's window.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CustomerQuery {
    pub offset: u64,
    pub limit: u32,
    pub contract_status: Option<ContractStatus>,
    pub signup_from: Option<NaiveDate>,
    pub signup_to: Option<NaiveDate>,
    pub changed_from: Option<NaiveDate>,
    pub changed_to: Option<NaiveDate>,
    /// Leave contracts and contacts out (counting only).
    pub keys_only: bool,
}

impl CustomerQuery {
    fn form(&self) -> Vec<(&'static str, String)> {
        let mut form = vec![
            ("offset", self.offset.to_string()),
            ("limit", self.limit.to_string()),
            // invoices are not imported; leaving them out halves the page
            ("omitir_titulos", "1".to_owned()),
        ];
        if self.keys_only {
            form.push(("omitir_contratos", "1".to_owned()));
            form.push(("omitir_contatos", "1".to_owned()));
        }
        if let Some(code) = self.contract_status.and_then(ContractStatus::code) {
            form.push(("contrato_status", code.to_string()));
        }
        let date = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
        // SGP wants the start of a range whenever the end is given
        match (self.signup_from, self.signup_to) {
            (None, None) => {}
            (from, to) => {
                form.push(("data_cadastro_inicio", date(from.unwrap_or(epoch()))));
                if let Some(to) = to {
                    form.push(("data_cadastro_fim", date(to)));
                }
            }
        }
        match (self.changed_from, self.changed_to) {
            (None, None) => {}
            (from, to) => {
                form.push(("data_alteracao_inicio", date(from.unwrap_or(epoch()))));
                if let Some(to) = to {
                    form.push(("data_alteracao_fim", date(to)));
                }
            }
        }
        form
    }
}

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date")
}

/// One page of `clientes`, each customer parsed on its own.
#[derive(Debug)]
pub struct CustomerPage {
    /// `paginacao.total`, when SGP sends it.
    pub total: Option<u64>,
    /// How many customers the page held (parsed or not).
    pub received: usize,
    pub customers: Vec<Result<SgpCustomer, RowError>>,
}

/// A transient failure about to be retried, for the job's log.
#[derive(Debug)]
pub struct RetryNotice<'a> {
    pub attempt: u32,
    pub of: u32,
    pub error: &'a SgpError,
    pub delay: Duration,
}

#[derive(Clone)]
pub struct SgpClient {
    http: reqwest::Client,
    base: SgpBaseUrl,
    auth: SgpAuth,
    config: SgpClientConfig,
}

impl SgpClient {
    pub fn new(base: SgpBaseUrl, auth: SgpAuth, config: SgpClientConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("sgp-import/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a TLS backend is compiled in");
        SgpClient {
            http,
            base,
            auth,
            config,
        }
    }

    pub fn base_url(&self) -> &SgpBaseUrl {
        &self.base
    }

    /// One page, retrying transient failures with backoff; `on_retry` hears
    /// of each retry before its wait.
    pub async fn customers(
        &self,
        query: &CustomerQuery,
        mut on_retry: impl FnMut(RetryNotice<'_>),
    ) -> Result<CustomerPage, SgpError> {
        let mut attempt = 0;
        loop {
            match self.customers_once(query).await {
                Err(e) if e.is_transient() && attempt < self.config.retries => {
                    attempt += 1;
                    let delay = self.config.retry.delay(attempt);
                    on_retry(RetryNotice {
                        attempt,
                        of: self.config.retries,
                        error: &e,
                        delay,
                    });
                    tokio::time::sleep(delay).await;
                }
                other => return other,
            }
        }
    }

    /// One request, no retry.
    pub async fn customers_once(&self, query: &CustomerQuery) -> Result<CustomerPage, SgpError> {
        let body = self.post(CUSTOMERS_PATH, &query.form()).await?;
        parse_page(&body)
    }

    /// A cheap check of URL and credentials: one customer, no contracts.
    /// Returns how many customers SGP says it has, when it says.
    pub async fn test_connection(&self) -> Result<Option<u64>, SgpError> {
        let query = CustomerQuery {
            limit: 1,
            keys_only: true,
            ..CustomerQuery::default()
        };
        Ok(self.customers_once(&query).await?.total)
    }

    async fn post(&self, path: &str, form: &[(&'static str, String)]) -> Result<String, SgpError> {
        let url = self.base.join(path);
        let mut fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut request = self.http.post(&url);
        match &self.auth {
            SgpAuth::Token { token, app } => {
                fields.push(("token", token.expose()));
                fields.push(("app", app.as_str()));
            }
            SgpAuth::Basic { user, password } => {
                request = request.basic_auth(user, Some(password.expose()));
            }
        }
        let response = request
            .form(&fields)
            .send()
            .await
            .map_err(|e| self.transport(&e))?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(|e| self.transport(&e))?;
        match status {
            200..=299 => Ok(body),
            401 | 403 => Err(SgpError::Credentials {
                status,
                detail: detail(&body).unwrap_or_else(|| "sem detalhe".into()),
            }),
            404 => Err(SgpError::NotFound {
                url: self.base.to_string(),
            }),
            400 | 422 => Err(SgpError::Rejected {
                status,
                detail: detail(&body).unwrap_or_else(|| "sem detalhe".into()),
            }),
            429 | 500..=599 => Err(SgpError::Server { status }),
            _ => Err(SgpError::Client { status }),
        }
    }

    fn transport(&self, e: &reqwest::Error) -> SgpError {
        if e.is_timeout() {
            return SgpError::Timeout(self.config.timeout);
        }
        // the innermost cause says what happened (refused, reset, DNS...)
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(cause) = source {
            reason = cause.to_string();
            source = cause.source();
        }
        SgpError::Connection(connection_reason(&reason, e.is_body() || e.is_decode()))
    }
}

/// What went wrong with the connection, in words an admin can act on.
fn connection_reason(cause: &str, mid_body: bool) -> String {
    let lower = cause.to_lowercase();
    if mid_body || lower.contains("connection closed") || lower.contains("incomplete") {
        "o SGP encerrou a conexão antes de terminar a resposta".into()
    } else if lower.contains("reset") {
        "a conexão foi reiniciada pelo SGP".into()
    } else if lower.contains("refused") {
        "conexão recusada: confira o endereço e a porta".into()
    } else if lower.contains("dns") || lower.contains("lookup") || lower.contains("resolve") {
        "endereço não encontrado (DNS): confira a URL base".into()
    } else if lower.contains("certificate") || lower.contains("tls") {
        format!("falha no certificado/TLS do SGP: {cause}")
    } else {
        cause.to_owned()
    }
}

/// `detail` or `msg` of an SGP error body, clipped; never the whole body
/// (an HTML error page says nothing useful).
fn detail(body: &str) -> Option<String> {
    let value: Value = serde_json::from_str(body).ok()?;
    let text = value
        .get("detail")
        .or_else(|| value.get("msg"))
        .and_then(Value::as_str)?;
    Some(text.chars().take(300).collect())
}

/// Parses a 200 answer of `/api/ura/clientes/`.
pub fn parse_page(body: &str) -> Result<CustomerPage, SgpError> {
    let page: Object<RawPage<'_>> = serde_json::from_str(body).map_err(|e| {
        if body.trim_start().starts_with('<') {
            SgpError::Malformed("página HTML em vez de JSON".into())
        } else {
            SgpError::Malformed(format!("JSON inválido: {e}"))
        }
    })?;
    let page = page.0.found().unwrap_or_default();
    // HTTP 200 with {"msg": "...", "status": 0}: a rejected parameter
    if page.status.integer() == Some(0) && page.clientes.is_none() {
        return Err(SgpError::Rejected {
            status: 200,
            detail: detail(body).unwrap_or_else(|| "sem detalhe".into()),
        });
    }
    // each customer is read on its own, so one the reader refuses fails
    // its row, not the page
    let list: Vec<&RawValue> = page
        .clientes
        .and_then(|raw| serde_json::from_str(raw.get()).ok())
        .ok_or_else(|| SgpError::Malformed("sem a lista `clientes`".into()))?;
    let total = page.paginacao.0.found().and_then(|p| p.total.count());
    Ok(CustomerPage {
        total,
        received: list.len(),
        customers: list
            .iter()
            .map(|raw| SgpCustomer::from_json_text(raw.get()))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pages_and_classifies_bad_ones() {
        let page = parse_page(
            r#"{"paginacao": {"offset": 0, "limit": 100, "parcial": 2, "total": "7"},
                "clientes": [{"id": 1, "nome": "A"}, {"nome": "sem chave"}]}"#,
        )
        .unwrap();
        assert_eq!(page.total, Some(7));
        assert_eq!(page.received, 2);
        assert!(page.customers[0].is_ok() && page.customers[1].is_err());
        // a customer the reader refuses is an error for its row only
        let page = parse_page(
            r#"{"paginacao": {"total": 3}, "clientes": [{"id": 1, "nome": "A", "nome": "B"},
                {"id": 3, "nome": "C"}, 7]}"#,
        )
        .unwrap();
        assert_eq!((page.total, page.received), (Some(3), 3));
        assert_eq!(
            page.customers[0].as_ref().unwrap_err().key.as_deref(),
            Some("1")
        );
        assert_eq!(page.customers[1].as_ref().unwrap().name, "C");
        assert!(page.customers[2].is_err());
        assert!(matches!(
            parse_page(r#"{"clientes": {"id": 1}}"#),
            Err(SgpError::Malformed(m)) if m.contains("clientes")
        ));
        assert!(matches!(
            parse_page(r#"[{"id": 1}]"#),
            Err(SgpError::Malformed(m)) if m.contains("clientes")
        ));
        let no_paging = parse_page(r#"{"clientes": []}"#).unwrap();
        assert_eq!((no_paging.total, no_paging.received), (None, 0));
        assert!(matches!(
            parse_page("<html>502</html>"),
            Err(SgpError::Malformed(m)) if m.contains("HTML")
        ));
        assert!(matches!(
            parse_page(r#"{"clientes": [{"id""#),
            Err(SgpError::Malformed(_))
        ));
        assert!(matches!(
            parse_page(r#"{"msg": "data_cadastro_fim sem data_cadastro_inicio", "status": 0}"#),
            Err(SgpError::Rejected { status: 200, detail }) if detail.contains("data_cadastro_fim")
        ));
    }

    #[test]
    fn the_query_sends_only_what_is_set() {
        let q = CustomerQuery {
            offset: 200,
            limit: 100,
            contract_status: Some(ContractStatus::Active),
            signup_to: NaiveDate::from_ymd_opt(2024, 5, 31),
            ..CustomerQuery::default()
        };
        let form = q.form();
        let get = |k: &str| form.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("offset"), Some("200"));
        assert_eq!(get("contrato_status"), Some("1"));
        assert_eq!(get("data_cadastro_inicio"), Some("1970-01-01"));
        assert_eq!(get("data_cadastro_fim"), Some("2024-05-31"));
        assert_eq!(get("data_alteracao_inicio"), None);
        assert_eq!(get("omitir_contratos"), None);
    }
}
