//! The admins, as goose users: dashboards that ask for the import list,
//! the tab counts and the active cards every 5 seconds (what
//! /dashboard/importacoes does), and progress streams that follow the
//! running import from start to end (what /integracoes does after
//! "Importar Clientes").

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use goose::config::GooseConfiguration;
use goose::goose::GooseResponse;
use goose::metrics::GooseMetrics;
use goose::prelude::*;

/// Dashboard requests made while the import ran: the figure the target is on.
pub const DURING: &str = "painel durante a importação";
/// Dashboard requests before the import started or after it ended.
pub const OUTSIDE: &str = "painel sem importação";
pub const STREAM: &str = "acompanhamento ao vivo";

/// The dashboard's server function, as the page's refresh calls it: the
/// "Todas" tab, first page.
const DASHBOARD_PATH: &str = "/api/imports";
const DASHBOARD_FORM: &str = "tab=todas&page=1&origin=&highlight=";
pub const DASHBOARD_EVERY: Duration = Duration::from_secs(5);

/// What one round's users share with the harness.
#[derive(Default)]
pub struct Round {
    /// `sgp_session=...` cookies; user k acts as admin k modulo their number.
    pub cookies: Vec<String>,
    /// The import to follow, once queued.
    pub job: RwLock<Option<String>>,
    pub importing: AtomicBool,
    /// `progress` events the streams received, and streams that saw `done`.
    pub events: AtomicU64,
    pub streams_done: AtomicU64,
    /// Seats handed out so far, per kind of user: streams go round the
    /// admins evenly, under the server's cap of streams per account.
    seats: [AtomicUsize; 2],
}

impl Round {
    pub fn new(cookies: Vec<String>) -> Round {
        Round {
            cookies,
            ..Round::default()
        }
    }
}

static ROUND: RwLock<Option<Arc<Round>>> = RwLock::new(None);

pub fn set_round(round: Option<Arc<Round>>) {
    *ROUND.write().unwrap_or_else(|p| p.into_inner()) = round;
}

fn round() -> Option<Arc<Round>> {
    ROUND.read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Who a goose user is for this round: an admin's session, and the import
/// it already followed.
#[derive(Clone)]
struct Seat {
    cookie: String,
    followed: Option<String>,
}

/// This user's seat, taken on its first transaction.
fn seat(user: &mut GooseUser, round: &Round, kind: usize) -> Seat {
    if let Some(seat) = user.get_session_data::<Seat>() {
        return seat.clone();
    }
    let k = round.seats[kind].fetch_add(1, Ordering::Relaxed);
    let seat = Seat {
        cookie: round.cookies[k % round.cookies.len()].clone(),
        followed: None,
    };
    user.set_session_data(seat.clone());
    seat
}

/// Sends `builder` through goose, which times it and counts it under `name`.
async fn send(
    user: &mut GooseUser,
    method: GooseMethod,
    path: &str,
    name: &str,
    builder: reqwest::RequestBuilder,
) -> Result<GooseResponse, Box<TransactionError>> {
    let request = GooseRequest::builder()
        .method(method)
        .path(path)
        .name(name)
        .set_request_builder(builder)
        .build();
    user.request(request).await
}

async fn dashboard(user: &mut GooseUser) -> TransactionResult {
    let Some(round) = round() else {
        return Ok(());
    };
    let name = if round.importing.load(Ordering::Relaxed) {
        DURING
    } else {
        OUTSIDE
    };
    // a browser sends its origin with every POST
    let origin = user.base_url.origin().ascii_serialization();
    let builder = user
        .get_request_builder(&GooseMethod::Post, DASHBOARD_PATH)?
        .header("cookie", seat(user, &round, 0).cookie)
        .header("origin", origin)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(DASHBOARD_FORM);
    let GooseResponse {
        mut request,
        response,
    } = send(user, GooseMethod::Post, DASHBOARD_PATH, name, builder).await?;
    if let Ok(response) = response {
        // the page reads the whole answer; so does the admin here
        if let Err(e) = response.bytes().await {
            return user.set_failure(&format!("corpo: {e}"), &mut request, None, None);
        }
    }
    Ok(())
}

async fn follow(user: &mut GooseUser) -> TransactionResult {
    let Some(round) = round() else {
        tokio::time::sleep(Duration::from_millis(100)).await;
        return Ok(());
    };
    let job = round.job.read().unwrap_or_else(|p| p.into_inner()).clone();
    let mut seat = seat(user, &round, 1);
    let Some(job) = job.filter(|j| seat.followed.as_ref() != Some(j)) else {
        tokio::time::sleep(Duration::from_millis(50)).await;
        return Ok(());
    };
    seat.followed = Some(job.clone());
    user.set_session_data(seat.clone());
    let path = format!("/api/admin/integracoes/sgp/importar-stream?job_id={job}");
    let builder = user
        .get_request_builder(&GooseMethod::Get, &path)?
        .header("cookie", seat.cookie)
        .header("accept", "text/event-stream");
    let GooseResponse {
        mut request,
        response,
    } = send(user, GooseMethod::Get, &path, STREAM, builder).await?;
    // a refused stream is already counted as failed
    let Ok(mut response) = response else {
        return Ok(());
    };
    if !response.status().is_success() {
        return Ok(());
    }
    let (mut pending, mut progress, mut done, mut error) = (String::new(), 0u64, false, None);
    loop {
        match response.chunk().await {
            Ok(Some(bytes)) => {
                pending.push_str(&String::from_utf8_lossy(&bytes));
                // whole lines only: an event may arrive in pieces
                while let Some(end) = pending.find('\n') {
                    let line: String = pending.drain(..=end).collect();
                    match line.trim_end() {
                        "event: progress" => progress += 1,
                        "event: done" => done = true,
                        "event: error" => error = Some("evento error".to_owned()),
                        _ => {}
                    }
                }
            }
            Ok(None) => break,
            Err(e) => {
                error = Some(format!("leitura: {e}"));
                break;
            }
        }
    }
    round.events.fetch_add(progress, Ordering::Relaxed);
    match (done, error) {
        (true, None) => {
            round.streams_done.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        (_, Some(e)) => user.set_failure(&e, &mut request, None, None),
        (false, None) => user.set_failure("terminou sem `done`", &mut request, None, None),
    }
}

/// Runs `dashboards` + `streams` users against `base` until the harness
/// pulls goose's killswitch. Goose discards what it measured while the
/// users were being launched (`users / rate` seconds).
pub async fn attack(
    base: &str,
    dashboards: usize,
    streams: usize,
    rate: usize,
) -> Result<GooseMetrics, GooseError> {
    let g = gcd(dashboards, streams).max(1);
    let mut attack = GooseAttack::initialize_with_config(GooseConfiguration::default())?;
    if dashboards > 0 {
        attack = attack.register_scenario(
            scenario!("Painel")
                .set_weight(dashboards / g)?
                .set_wait_time(DASHBOARD_EVERY, DASHBOARD_EVERY)?
                .register_transaction(transaction!(dashboard)),
        );
    }
    if streams > 0 {
        attack = attack.register_scenario(
            scenario!("Acompanhamento")
                .set_weight(streams / g)?
                .register_transaction(transaction!(follow)),
        );
    }
    attack
        .set_default(GooseDefault::Host, base)?
        .set_default(GooseDefault::Users, dashboards + streams)?
        .set_default(GooseDefault::IncreaseRate, rate.to_string().as_str())?
        // the harness ends the run when the import has ended
        .set_default(GooseDefault::RunTime, 3600)?
        .set_default(GooseDefault::Timeout, "600")?
        // goose's own log: warnings only, not a line per user
        .set_default(GooseDefault::Quiet, 1)?
        .set_default(GooseDefault::NoTelnet, true)?
        .set_default(GooseDefault::NoPrintMetrics, true)?
        .set_default(GooseDefault::NoErrorSummary, true)?
        .execute()
        .await
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}
