//! The fake's HTTP side: SGP's paths, credentials, filters and pagination,
//! plus faults injected on demand.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use base64::Engine;
use chrono::NaiveDate;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::data::{Omit, Population};

/// Who may call the fake. Either way works on every request, as in SGP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub token: String,
    pub app: String,
    pub user: String,
    pub password: String,
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials {
            token: "d3m0-t0k3n-5gp-1mp0rt".into(),
            app: "sgpimport".into(),
            user: "admin".into(),
            password: "sgp-demo-senha".into(),
        }
    }
}

/// Everything the fake does, changeable while it runs.
#[derive(Clone, Debug)]
pub struct FakeConfig {
    pub population: Population,
    pub credentials: Credentials,
    /// Added to every customer-list answer.
    pub latency: Duration,
    /// Some installations ignore `offset` and send the first page again.
    pub ignore_offset: bool,
    /// Some installations send no `paginacao`.
    pub omit_pagination: bool,
    /// The largest page served, whatever `limit` asks (the wild caps at 100).
    pub max_limit: u32,
    /// Serve `max_limit` customers a page whatever `limit` asks.
    pub ignore_limit: bool,
    /// How long a `Fault::Hang` holds the request.
    pub hang: Duration,
    /// Where `Fault::Redirect` points.
    pub redirect_to: String,
    /// Hostile mode: this fault answers every customer-list request.
    pub hostile: Option<Fault>,
}

impl FakeConfig {
    pub fn new(customers: u32) -> Self {
        FakeConfig {
            population: Population::new(customers),
            credentials: Credentials::default(),
            latency: Duration::ZERO,
            ignore_offset: false,
            omit_pagination: false,
            max_limit: 100,
            ignore_limit: false,
            hang: Duration::from_secs(3600),
            redirect_to: "http://127.0.0.1:9/api/ura/clientes/".to_owned(),
            hostile: None,
        }
    }
}

/// One misbehaviour, served to the next customer-list request in place of
/// its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// This HTTP status, with an HTML body as gateways send.
    Status(u16),
    /// Headers go out, then the connection drops mid-body.
    Drop,
    /// No answer for `FakeConfig::hang` (past any sane client timeout).
    Hang,
    /// A 200 whose JSON is cut short.
    Malformed,
    /// A 200 whose body never ends (a JSON prefix, then spaces forever).
    EndlessBody,
    /// A 200 that declares a terabyte of Content-Length, sends a few bytes
    /// and then nothing.
    HugeLength,
    /// A 307 to `FakeConfig::redirect_to` (loopback by default), which a
    /// client that follows redirects would re-post the token to.
    Redirect,
    /// A 403 whose error body never ends.
    EndlessError,
    /// A 200 of this many `0`s as customers, whatever the offset, claiming
    /// a trillion customers: items that cost nothing to send and much to
    /// read, and an SGP that never runs out of them.
    Garbage(u32),
}

/// What the fake saw, for tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub path: String,
    pub offset: Option<u64>,
    /// `None` while unanswered (or when the client hung up first).
    pub status: Option<u16>,
}

pub(crate) struct Shared {
    config: RwLock<FakeConfig>,
    faults: Mutex<VecDeque<Fault>>,
    /// Per (page offset): faults served only for that page, once each.
    page_faults: Mutex<HashMap<u64, VecDeque<Fault>>>,
    requests: Mutex<Vec<Request>>,
    served: AtomicU64,
    /// Matching customers per filter set and revision (filtering scans
    /// everyone; a run asks the same filters for every page).
    matches: Mutex<HashMap<String, Arc<Vec<u32>>>>,
}

/// A running fake SGP on a loopback port.
pub struct FakeSgp {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl FakeSgp {
    /// Serves on 127.0.0.1 at a free port.
    pub async fn start(config: FakeConfig) -> std::io::Result<FakeSgp> {
        Self::start_on(config, "127.0.0.1:0").await
    }

    pub async fn start_on(config: FakeConfig, addr: &str) -> std::io::Result<FakeSgp> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config: RwLock::new(config),
            faults: Mutex::new(VecDeque::new()),
            page_faults: Mutex::new(HashMap::new()),
            requests: Mutex::new(Vec::new()),
            served: AtomicU64::new(0),
            matches: Mutex::new(HashMap::new()),
        });
        let app = router(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(FakeSgp {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The base URL to configure in the app (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn config(&self) -> FakeConfig {
        self.shared.config.read().expect("config lock").clone()
    }

    /// Changes the fake while it runs.
    pub fn update(&self, change: impl FnOnce(&mut FakeConfig)) {
        let mut config = self.shared.config.write().expect("config lock");
        change(&mut config);
        self.shared.matches.lock().expect("cache lock").clear();
    }

    /// Moves SGP's data to revision `r`: a known set of customers changes
    /// (and new ones appear, if configured), dated today.
    pub fn set_revision(&self, revision: u32) {
        self.update(|c| {
            let today = chrono::Utc::now().date_naive();
            let p = &mut c.population;
            while (p.revision_dates.len() as u32) < revision {
                p.revision_dates.push(today);
            }
            p.revision = revision;
        });
    }

    /// Serves these faults, one per customer-list request, before answering
    /// normally again.
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.shared
            .faults
            .lock()
            .expect("faults lock")
            .extend(faults);
    }

    /// Serves these faults to requests for the page at `offset` only.
    pub fn push_page_faults(&self, offset: u64, faults: impl IntoIterator<Item = Fault>) {
        self.shared
            .page_faults
            .lock()
            .expect("faults lock")
            .entry(offset)
            .or_default()
            .extend(faults);
    }

    pub fn requests(&self) -> Vec<Request> {
        self.shared.requests.lock().expect("requests lock").clone()
    }

    /// Customer-list requests answered with a page.
    pub fn pages_served(&self) -> u64 {
        self.shared.served.load(Ordering::Relaxed)
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for FakeSgp {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/ura/clientes/", any(customers))
        .route("/ws/ura/clientes/", any(customers))
        .route("/api/auth/info/", get(auth_info))
        .fallback(not_found)
        .with_state(shared)
}

async fn not_found() -> Response {
    html(
        StatusCode::NOT_FOUND,
        "<h1>Not Found</h1><p>The requested resource was not found on this server.</p>",
    )
}

fn html(status: StatusCode, body: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        format!("<!doctype html><html><body>{body}</body></html>"),
    )
        .into_response()
}

fn detail(status: StatusCode, text: &str) -> Response {
    (status, axum::Json(json!({ "detail": text }))).into_response()
}

/// Form fields from a urlencoded or JSON body (SGP takes both, and the
/// query string too).
fn fields(headers: &HeaderMap, query: Option<&str>, body: &Bytes) -> HashMap<String, String> {
    let mut out: HashMap<String, String> = HashMap::new();
    if let Some(q) = query {
        for (k, v) in form_urlencoded(q) {
            out.insert(k, v);
        }
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if json {
        if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) {
            for (k, v) in map {
                let v = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                out.insert(k, v);
            }
        }
    } else if let Ok(text) = std::str::from_utf8(body) {
        for (k, v) in form_urlencoded(text) {
            out.insert(k, v);
        }
    }
    out
}

/// Minimal `application/x-www-form-urlencoded` decoding.
fn form_urlencoded(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

enum Auth {
    Ok,
    Missing,
    Wrong,
}

fn check_auth(creds: &Credentials, headers: &HeaderMap, fields: &HashMap<String, String>) -> Auth {
    if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(basic.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        return match decoded.as_deref().and_then(|d| d.split_once(':')) {
            Some((u, p)) if u == creds.user && p == creds.password => Auth::Ok,
            _ => Auth::Wrong,
        };
    }
    match (fields.get("token"), fields.get("app")) {
        (None, _) | (_, None) => Auth::Missing,
        // the app name is case-sensitive in SGP
        (Some(t), Some(a)) if *t == creds.token && *a == creds.app => Auth::Ok,
        _ => Auth::Wrong,
    }
}

fn refuse(auth: Auth) -> Option<Response> {
    match auth {
        Auth::Ok => None,
        Auth::Missing => Some(detail(
            StatusCode::FORBIDDEN,
            "As credenciais de autenticação não foram fornecidas.",
        )),
        Auth::Wrong => Some(detail(
            StatusCode::FORBIDDEN,
            "Credenciais de autenticação incorretas.",
        )),
    }
}

async fn auth_info(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let creds = shared
        .config
        .read()
        .expect("config lock")
        .credentials
        .clone();
    let has_basic = headers.contains_key(header::AUTHORIZATION);
    let auth = if has_basic {
        check_auth(&creds, &headers, &HashMap::new())
    } else {
        Auth::Missing
    };
    if let Some(refusal) = refuse(auth) {
        return refusal;
    }
    axum::Json(json!({"username": creds.user, "nome": "Administrador"})).into_response()
}

/// Dates as SGP takes them in filters: `YYYY-MM-DD`. The error is the
/// 422 detail.
fn date_param(fields: &HashMap<String, String>, name: &str) -> Result<Option<NaiveDate>, String> {
    match fields.get(name).map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| format!("Data inválida em {name}: {s}. Use o formato AAAA-MM-DD.")),
    }
}

fn flag(fields: &HashMap<String, String>, name: &str) -> bool {
    fields
        .get(name)
        .is_some_and(|v| matches!(v.trim(), "1" | "true" | "True" | "sim"))
}

async fn customers(
    State(shared): State<Arc<Shared>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = fields(&headers, uri.query(), &body);
    let offset_asked = fields
        .get("offset")
        .and_then(|o| o.trim().parse::<u64>().ok());
    // recorded on arrival: a request the client gave up on still counts
    let index = {
        let mut requests = shared.requests.lock().expect("requests lock");
        requests.push(Request {
            path: uri.path().to_owned(),
            offset: offset_asked,
            status: None,
        });
        requests.len() - 1
    };
    let response = answer(&shared, &headers, &fields, offset_asked).await;
    if let Some(r) = shared
        .requests
        .lock()
        .expect("requests lock")
        .get_mut(index)
    {
        r.status = Some(response.status().as_u16());
    }
    response
}

async fn answer(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    fields: &HashMap<String, String>,
    offset_asked: Option<u64>,
) -> Response {
    let config = shared.config.read().expect("config lock").clone();
    if let Some(refusal) = refuse(check_auth(&config.credentials, headers, fields)) {
        return refusal;
    }
    if !config.latency.is_zero() {
        tokio::time::sleep(config.latency).await;
    }
    let fault = shared
        .page_faults
        .lock()
        .expect("faults lock")
        .get_mut(&offset_asked.unwrap_or(0))
        .and_then(VecDeque::pop_front)
        .or_else(|| shared.faults.lock().expect("faults lock").pop_front())
        .or(config.hostile);
    match fault {
        Some(Fault::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
            return html(status, &format!("<h1>{code}</h1><p>nginx</p>"));
        }
        Some(Fault::Hang) => {
            tokio::time::sleep(config.hang).await;
        }
        Some(Fault::Drop) => {
            let dropped = futures_util::stream::iter([Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "fake: connection dropped",
            ))]);
            return streamed(
                StatusCode::OK,
                b"{\"paginacao\": {\"offset\": 0, ",
                dropped,
                None,
            );
        }
        Some(Fault::Garbage(items)) => {
            let zeros = vec!["0"; items as usize].join(",");
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                format!("{{\"paginacao\": {{\"total\": 1000000000000}}, \"clientes\": [{zeros}]}}"),
            )
                .into_response();
        }
        Some(Fault::EndlessBody) => {
            let spaces =
                futures_util::stream::repeat_with(|| Ok(Bytes::from(vec![b' '; 64 * 1024])));
            let start = b"{\"paginacao\": {\"offset\": 0, \"total\": 1}, \"clientes\": [";
            return streamed(StatusCode::OK, start, spaces, None);
        }
        Some(Fault::HugeLength) => {
            let never = futures_util::stream::pending();
            return streamed(StatusCode::OK, b"{\"clientes\": [", never, Some(1 << 40));
        }
        Some(Fault::EndlessError) => {
            let filler =
                futures_util::stream::repeat_with(|| Ok(Bytes::from(vec![b'a'; 64 * 1024])));
            return streamed(StatusCode::FORBIDDEN, b"{\"detail\": \"", filler, None);
        }
        Some(Fault::Redirect) => {
            return (
                StatusCode::TEMPORARY_REDIRECT,
                [(header::LOCATION, config.redirect_to.clone())],
            )
                .into_response();
        }
        Some(Fault::Malformed) => {
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "{\"paginacao\": {\"offset\": 0, \"limit\": 100}, \"clientes\": [{\"id\": 1, \"nome\": ",
            )
                .into_response();
        }
        None => {}
    }

    let dates = (|| {
        Ok::<_, String>((
            date_param(fields, "data_cadastro_inicio")?,
            date_param(fields, "data_cadastro_fim")?,
            date_param(fields, "data_alteracao_inicio")?,
            date_param(fields, "data_alteracao_fim")?,
        ))
    })();
    let (signup_from, signup_to, changed_from, changed_to) = match dates {
        Ok(d) => d,
        Err(message) => return detail(StatusCode::UNPROCESSABLE_ENTITY, &message),
    };
    if signup_to.is_some() && signup_from.is_none() {
        return detail(
            StatusCode::UNPROCESSABLE_ENTITY,
            "data_cadastro_fim exige data_cadastro_inicio.",
        );
    }
    if changed_to.is_some() && changed_from.is_none() {
        return detail(
            StatusCode::UNPROCESSABLE_ENTITY,
            "data_alteracao_fim exige data_alteracao_inicio.",
        );
    }
    let status = match fields
        .get("contrato_status")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(s) => match s.parse::<u8>() {
            Ok(code @ 1..=7) => Some(code),
            _ => {
                // the other way SGP reports a bad parameter: HTTP 200
                return axum::Json(
                    json!({"msg": format!("contrato_status inválido: {s}"), "status": 0}),
                )
                .into_response();
            }
        },
    };
    let limit = if config.ignore_limit {
        config.max_limit.max(1)
    } else {
        fields
            .get("limit")
            .and_then(|l| l.trim().parse::<u32>().ok())
            .unwrap_or(100)
            .clamp(1, config.max_limit.max(1))
    };
    let offset = if config.ignore_offset {
        0
    } else {
        offset_asked.unwrap_or(0)
    };
    let population = &config.population;
    let filtered = signup_from.is_some()
        || signup_to.is_some()
        || changed_from.is_some()
        || status.is_some()
        || !population.gone.is_empty();
    let (total, page): (u64, Vec<u32>) = if filtered {
        let key = format!(
            "{:?}|{signup_from:?}|{signup_to:?}|{changed_from:?}|{changed_to:?}|{status:?}|{:?}",
            population.revision, population.gone
        );
        let cached = shared
            .matches
            .lock()
            .expect("cache lock")
            .get(&key)
            .cloned();
        let matching = match cached {
            Some(m) => m,
            None => {
                let m: Arc<Vec<u32>> = Arc::new(
                    (0..population.count())
                        .filter(|i| {
                            let f = population.facts(*i);
                            !population.gone.contains(i)
                                && signup_from.is_none_or(|d| f.signup >= d)
                                && signup_to.is_none_or(|d| f.signup <= d)
                                && changed_from.is_none_or(|d| f.changed >= d)
                                && changed_to.is_none_or(|d| f.changed <= d)
                                && status.is_none_or(|s| f.has_contract_status(s))
                        })
                        .collect(),
                );
                shared
                    .matches
                    .lock()
                    .expect("cache lock")
                    .insert(key, m.clone());
                m
            }
        };
        let page = matching
            .iter()
            .skip(offset as usize)
            .take(limit as usize)
            .copied()
            .collect();
        (matching.len() as u64, page)
    } else {
        let count = u64::from(population.count());
        let end = (offset + u64::from(limit)).min(count);
        ((count), (offset.min(count) as u32..end as u32).collect())
    };
    let omit = Omit {
        contracts: flag(fields, "omitir_contratos"),
        invoices: flag(fields, "omitir_titulos"),
        contacts: flag(fields, "omitir_contatos"),
    };
    let page = PageOut {
        paginacao: (!config.omit_pagination).then(
            || json!({"offset": offset, "limit": limit, "parcial": page.len(), "total": total}),
        ),
        clientes: page.iter().map(|i| population.item(*i, omit)).collect(),
    };
    let body = match serde_json::to_vec(&page) {
        Ok(b) => b,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    shared.served.fetch_add(1, Ordering::Relaxed);
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A JSON answer whose body starts with `start` and goes on as `rest` does
/// (an error, forever, never), optionally declaring a `Content-Length` it
/// will not honour.
fn streamed(
    status: StatusCode,
    start: &'static [u8],
    rest: impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    declared_length: Option<u64>,
) -> Response {
    let first = futures_util::stream::iter([Ok(Bytes::from_static(start))]);
    let mut response = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(length) = declared_length {
        response = response.header(header::CONTENT_LENGTH, length);
    }
    response
        .body(Body::from_stream(futures_util::StreamExt::chain(
            first, rest,
        )))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

#[derive(serde::Serialize)]
struct PageOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    paginacao: Option<Value>,
    clientes: Vec<crate::data::CustomerItem>,
}
