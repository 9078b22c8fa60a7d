//! The SGP client: lists customers page by page and checks a connection.

use std::time::Duration;

use chrono::NaiveDate;
use serde_json::value::RawValue;

use super::auth::SgpAuth;
use super::base_url::SgpBaseUrl;
use super::customer::{ContractStatus, RowError, SgpCustomer};
use super::error::SgpError;
use super::wire::{clean_text, Capped, Loose, Object, RawErrorBody, RawPage};
use crate::jobs::RetryPolicy;
use crate::outbound::{self, BodyError, OutboundPolicy};

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
    /// Which addresses the SGP URL may lead to.
    pub outbound: OutboundPolicy,
    /// The most an answer may weigh (`sgp.max_response_bytes`).
    pub max_response_bytes: u64,
}

/// The default byte budget of one SGP answer: a page of 100 customers
/// with contracts is some 100 KB; 32 MB is room for SGPs that ignore
/// `limit`, and no more than a few of them at once can cost the process.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 32 * 1024 * 1024;

/// How much of an error answer is read: enough for SGP's `{"detail"}`,
/// never a whole error page.
const ERROR_BODY_BYTES: usize = 4 * 1024;

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
            outbound: OutboundPolicy::public_only(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
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
    /// The answer's size in bytes, for what the import holds in memory.
    pub bytes: usize,
    /// When some rows failed: a digest of the whole `clientes` list as
    /// sent, which tells a page repeated byte for byte (an SGP that ignores
    /// `offset`) from another that fails the same way.
    pub failed_digest: Option<String>,
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
        // fails only when the TLS backend cannot start, which no request
        // can cause
        let http = config
            .outbound
            .client(config.connect_timeout, config.timeout)
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
        let (body, received) = self.post(CUSTOMERS_PATH, &query.form()).await?;
        // the budget counts the bytes received: decoding (Latin-1, or
        // U+FFFD for bytes that are not UTF-8) can triple the text
        parse_page_within(&body, item_budget(received.min(body.len())))
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

    /// One request, counted and timed by outcome class.
    /// The answer's text and how many bytes it took on the wire.
    async fn post(
        &self,
        path: &str,
        form: &[(&'static str, String)],
    ) -> Result<(String, usize), SgpError> {
        let started = std::time::Instant::now();
        let result = self.post_once(path, form).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.class(),
        };
        metrics::counter!("sgp_import_sgp_requests_total", "outcome" => outcome).increment(1);
        metrics::histogram!("sgp_import_sgp_request_duration_seconds", "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        result
    }

    async fn post_once(
        &self,
        path: &str,
        form: &[(&'static str, String)],
    ) -> Result<(String, usize), SgpError> {
        if self.config.outbound.check_url(self.base.url()).is_err() {
            tracing::warn!(
                sgp_host = self.base.host(),
                "outbound request refused: the SGP URL is a non-public address"
            );
            return Err(SgpError::Refused);
        }
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
        if (200..=299).contains(&status) {
            let charset = charset(&response);
            let body = outbound::read_body(response, self.config.max_response_bytes)
                .await
                .map_err(|e| match e {
                    BodyError::TooLarge { limit, declared } => {
                        tracing::warn!(
                            sgp_host = self.base.host(),
                            limit,
                            declared,
                            "SGP answer over the byte budget"
                        );
                        SgpError::TooLarge { limit, declared }
                    }
                    BodyError::Transport(e) => self.transport(&e),
                })?;
            let received = body.len();
            return Ok((decode(body, charset.as_deref()), received));
        }
        if (300..=399).contains(&status) {
            return Err(SgpError::Redirect { status });
        }
        let body = outbound::read_prefix(response, ERROR_BODY_BYTES).await;
        let body = String::from_utf8_lossy(&body);
        match status {
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

    /// One message per class for the admin; the cause for the server log.
    fn transport(&self, e: &reqwest::Error) -> SgpError {
        if outbound::was_refused(e) {
            return SgpError::Refused;
        }
        // the innermost cause says what happened (refused, reset, DNS...)
        let mut cause = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(inner) = source {
            cause = inner.to_string();
            source = inner.source();
        }
        // hyper's "connection closed before message completed": the SGP
        // hung up while answering, which can happen before reqwest hands
        // over the body
        let cut_short = cause.contains("closed before message completed");
        let class = if e.is_timeout() {
            SgpError::Timeout(self.config.timeout)
        } else if e.is_body() || e.is_decode() || cut_short {
            SgpError::Interrupted
        } else {
            SgpError::Connection
        };
        tracing::warn!(sgp_host = self.base.host(), %cause, class = %class, "SGP request failed");
        class
    }
}

/// The charset an answer declares, if any.
fn charset(response: &reqwest::Response) -> Option<String> {
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)?
        .to_str()
        .ok()?;
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// The body as text: UTF-8 unless the answer declares another charset (a
/// few SGPs answer in Latin-1); undecodable bytes become U+FFFD.
fn decode(body: Vec<u8>, charset: Option<&str>) -> String {
    let encoding = charset
        .and_then(|c| encoding_rs::Encoding::for_label(c.as_bytes()))
        .unwrap_or(encoding_rs::UTF_8);
    if encoding == encoding_rs::UTF_8 {
        return String::from_utf8(body)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    }
    encoding.decode(&body).0.into_owned()
}

/// `detail` or `msg` of an SGP error body, clipped; never the whole body
/// (an HTML error page says nothing useful). The rest of the body is
/// skipped unread: a 200 with `"status": 0` can be a whole page's bytes.
fn detail(body: &str) -> Option<String> {
    let body = serde_json::from_str::<Object<RawErrorBody<'_>>>(body)
        .ok()?
        .0
        .found()?;
    let text = match (&body.detail, &body.msg) {
        (Loose::Text(t), _) | (Loose::Absent, Loose::Text(t)) => t,
        _ => return None,
    };
    Some(clean_text(text).chars().take(300).collect())
}

/// The items one answer may always hold: its customers and, inside them,
/// their contracts, services and contacts, counted together. A page of 100
/// customers holds about a thousand. Each item read costs some hundreds of
/// bytes however few it took in the answer (`0` as a customer, `{}` as a
/// service), so past its budget an answer is refused instead of growing
/// the process many times its own size.
pub const MAX_PAGE_ITEMS: usize = 100_000;

/// Bytes of answer that earn one more item past [`MAX_PAGE_ITEMS`]: a real
/// customer takes about 150 bytes an item (a kilobyte for itself, its
/// contracts, services and contacts), so an SGP that ignores `limit` and
/// sends 200,000 customers within the byte budget is read whole, while a
/// list of two-byte `0`s is refused at a few percent of its length.
const BYTES_PER_ITEM: usize = 64;

/// The items an answer of `bytes` may hold.
pub fn item_budget(bytes: usize) -> usize {
    MAX_PAGE_ITEMS.max(bytes / BYTES_PER_ITEM)
}

/// Customers a list is read to before its budget is even counted: the
/// references alone cost 16 bytes each.
const MAX_LISTED: usize = 1 << 20;

/// Parses a 200 answer of `/api/ura/clientes/`, with the item budget of
/// its length.
pub fn parse_page(body: &str) -> Result<CustomerPage, SgpError> {
    parse_page_within(body, item_budget(body.len()))
}

/// [`parse_page`] with at most `budget` items.
fn parse_page_within(body: &str, budget: usize) -> Result<CustomerPage, SgpError> {
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
    let too_many = SgpError::TooManyItems { limit: budget };
    let raw_list = page
        .clientes
        .ok_or_else(|| SgpError::Malformed("sem a lista `clientes`".into()))?;
    let list: Capped<&RawValue, MAX_LISTED> = serde_json::from_str(raw_list.get())
        .map_err(|_| SgpError::Malformed("sem a lista `clientes`".into()))?;
    if list.more || list.items.len() > budget {
        return Err(too_many);
    }
    let mut items = 0;
    let mut customers = Vec::with_capacity(list.items.len());
    for raw in &list.items {
        let customer = SgpCustomer::from_page_item(raw.get());
        items += customer.as_ref().map_or(1, SgpCustomer::items);
        if items > budget {
            return Err(too_many);
        }
        customers.push(customer);
    }
    let total = page.paginacao.0.found().and_then(|p| p.total.count());
    // (only then: hashing every page would cost the import some percent)
    let failed_digest = customers
        .iter()
        .any(Result::is_err)
        .then(|| crate::store::imports::digest_bytes(raw_list.get().as_bytes()));
    Ok(CustomerPage {
        total,
        bytes: body.len(),
        received: customers.len(),
        customers,
        failed_digest,
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

    /// `n` copies of `item` as a JSON list.
    fn list_of(item: &str, n: usize) -> String {
        format!("[{}]", vec![item; n].join(","))
    }

    #[test]
    fn an_answer_of_too_many_items_is_refused_whole() {
        let refused = SgpError::TooManyItems {
            limit: MAX_PAGE_ITEMS,
        };
        let too_many = Err(refused.clone());
        // two bytes a customer: refused while reading the list
        let zeros = |n| format!(r#"{{"clientes": {}}}"#, list_of("0", n));
        assert_eq!(parse_page(&zeros(MAX_PAGE_ITEMS + 1)).map(|_| ()), too_many);
        let at_the_cap = parse_page(&zeros(MAX_PAGE_ITEMS)).unwrap();
        assert_eq!(at_the_cap.received, MAX_PAGE_ITEMS);
        assert!(at_the_cap.customers.iter().all(Result::is_err));
        // few customers, each with many contracts: counted together
        let customer = |i: usize| {
            format!(
                r#"{{"id": {i}, "nome": "X", "contratos": {}}}"#,
                list_of(r#"{"contrato": 1}"#, 999)
            )
        };
        let page = |n: usize| {
            let list: Vec<String> = (1..=n).map(customer).collect();
            format!(r#"{{"clientes": [{}]}}"#, list.join(","))
        };
        assert_eq!(parse_page(&page(101)).map(|_| ()), too_many);
        let fits = parse_page(&page(100)).unwrap();
        assert_eq!(fits.customers[99].as_ref().unwrap().items(), 1000);
        // past the floor, an answer of real-sized items earns more: 110,000
        // items of about 70 bytes each are read whole
        let wide = |i: usize| {
            format!(
                r#"{{"id": {i}, "nome": "X", "contratos": {}}}"#,
                list_of(
                    r#"{"contrato": 1, "status": "Ativo", "plano": "Fibra 300 mega residencial"}"#,
                    999
                )
            )
        };
        let list: Vec<String> = (1..=110).map(wide).collect();
        let body = format!(r#"{{"clientes": [{}]}}"#, list.join(","));
        assert!(item_budget(body.len()) > 110_000, "{}", body.len());
        assert_eq!(parse_page(&body).unwrap().received, 110);
        assert!(refused.message_pt().contains("100.000"));
    }

    #[test]
    fn an_error_answers_text_is_read_without_the_rest() {
        let big = format!(
            r#"{{"status": 0, "lista": {}, "msg": "filtro"}}"#,
            list_of("0", 1000)
        );
        assert!(matches!(
            parse_page(&big),
            Err(SgpError::Rejected { status: 200, detail }) if detail == "filtro"
        ));
        assert_eq!(
            detail(r#"{"detail": "token", "msg": "x"}"#).as_deref(),
            Some("token")
        );
        assert_eq!(detail(r#"{"msg": {"a": 1}}"#), None);
        assert_eq!(detail(r#"["detail"]"#), None);
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
