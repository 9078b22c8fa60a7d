//! `loadtest`: the app as a whole under many admins (issue 17, item 5).
//!
//! For each database, rounds alternate: an import of LOAD_CUSTOMERS fake
//! customers alone, then the same import while goose drives
//! LOAD_DASHBOARDS dashboards (list + counts + active cards every 5 s) and
//! LOAD_STREAMS progress streams, LOAD_ROUNDS times each. Every round runs
//! the release server binary (LOAD_APP) on a fresh database, so the rounds
//! differ only in the load. Prints each round, the dashboard's p95 during
//! the import, the errors, and the import's speed under load against alone.
//!
//! PostgreSQL: LOAD_DATABASE_URL (or BENCH_DATABASE_URL), an admin URL on
//! which a database is created per round; SQLite always (LOAD_SKIP_SQLITE=1
//! skips it).

mod load;
mod report;
mod server;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use fake_sgp::{FakeConfig, FakeSgp};

use load::Round;
use report::{LoadedRound, Summary};
use server::{AppServer, Database};

struct Plan {
    app: PathBuf,
    dir: PathBuf,
    customers: u32,
    rounds: usize,
    dashboards: usize,
    streams: usize,
    /// Admin accounts the users share (streams are capped per account).
    accounts: usize,
    /// Users launched per second.
    rate: usize,
}

fn env_number(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, not {v:?}")),
        Err(_) => default,
    }
}

#[tokio::main]
async fn main() {
    let plan = Plan {
        app: std::env::var_os("LOAD_APP")
            .map_or_else(|| PathBuf::from("target/release/sgp-import"), PathBuf::from),
        dir: std::env::temp_dir().join(format!("sgp-import-load-{}", std::process::id())),
        customers: env_number("LOAD_CUSTOMERS", 100_000) as u32,
        rounds: env_number("LOAD_ROUNDS", 3).max(1),
        dashboards: env_number("LOAD_DASHBOARDS", 200),
        streams: env_number("LOAD_STREAMS", 50),
        accounts: env_number("LOAD_ACCOUNTS", 20).max(1),
        rate: env_number("LOAD_RATE", 50).max(1),
    };
    if !plan.app.is_file() {
        eprintln!(
            "loadtest: no server binary at {} (build it with `cargo build --release --features ssr`, or set LOAD_APP)",
            plan.app.display()
        );
        std::process::exit(2);
    }
    std::fs::create_dir_all(&plan.dir).expect("a temporary directory");
    println!(
        "# sgp-import under load: {} dashboards every {} s and {} progress streams during an import of {} customers ({} admins, {} rounds alone and {} under load, alternating)",
        plan.dashboards,
        load::DASHBOARD_EVERY.as_secs(),
        plan.streams,
        plan.customers,
        plan.accounts,
        plan.rounds,
        plan.rounds
    );
    let fake = FakeSgp::start(FakeConfig::new(plan.customers))
        .await
        .expect("the fake SGP starts");

    let mut summaries = Vec::new();
    if std::env::var_os("LOAD_SKIP_SQLITE").is_none() {
        let dir = plan.dir.clone();
        let db = move |n: usize| Database::Sqlite(dir.join(format!("load-{n}.db")));
        summaries.push(run("SQLite", &plan, &fake, db).await);
    }
    match std::env::var("LOAD_DATABASE_URL").or_else(|_| std::env::var("BENCH_DATABASE_URL")) {
        Ok(admin) => {
            let pid = std::process::id();
            let db = move |n: usize| Database::Postgres {
                admin: admin.clone(),
                name: format!("load_{pid}_{n}"),
            };
            summaries.push(run("PostgreSQL", &plan, &fake, db).await);
        }
        Err(_) => println!(
            "\n(PostgreSQL skipped: LOAD_DATABASE_URL or BENCH_DATABASE_URL not set; scripts/bench.sh sets it)"
        ),
    }
    fake.stop().await;
    let _ = std::fs::remove_dir_all(&plan.dir);

    println!();
    let mut failed = false;
    for s in &summaries {
        s.print();
        failed |= s.errors() > 0;
    }
    if failed {
        // errors are a finding, not a figure: the run says so in its status
        std::process::exit(1);
    }
}

/// Alternating rounds on one kind of database.
async fn run(name: &str, plan: &Plan, fake: &FakeSgp, db: impl Fn(usize) -> Database) -> Summary {
    println!("\n## {name}");
    let mut summary = Summary::new(name, plan.streams);
    for n in 0..plan.rounds * 2 {
        let loaded = n % 2 == 1;
        match round(plan, fake, db(n), loaded).await {
            Ok((rate, Some(l))) => {
                println!("round {}: under load: {}", n + 1, l.describe(rate));
                summary.loaded.push((rate, l));
            }
            Ok((rate, None)) => {
                println!("round {}: alone: {rate:.0} customers/s", n + 1);
                summary.alone.push(rate);
            }
            Err(e) => {
                println!("round {}: failed: {e}", n + 1);
                summary.failures.push(e);
            }
        }
    }
    summary
}

/// One import on a fresh server and database; with `loaded`, under the users.
async fn round(
    plan: &Plan,
    fake: &FakeSgp,
    db: Database,
    loaded: bool,
) -> Result<(f64, Option<LoadedRound>), String> {
    let creds = fake.config().credentials;
    let dir = plan.dir.join("data");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let server = AppServer::start(
        &plan.app,
        &dir,
        db,
        plan.accounts,
        (&fake.url(), &creds.app, &creds.token),
    )
    .await?;
    let result = measure(plan, &server, loaded).await;
    if result.is_err() {
        print_log_tail(&dir.join("server.log"));
    }
    server.stop().await;
    result
}

async fn measure(
    plan: &Plan,
    server: &AppServer,
    loaded: bool,
) -> Result<(f64, Option<LoadedRound>), String> {
    let shared = Arc::new(Round::new(server.cookies.clone()));
    let attack = if loaded {
        load::set_round(Some(shared.clone()));
        let (base, d, s, rate) = (
            server.base.clone(),
            plan.dashboards,
            plan.streams,
            plan.rate,
        );
        let attack = tokio::spawn(async move { load::attack(&base, d, s, rate).await });
        // every user launched (goose then starts measuring afresh) and one
        // dashboard period of steady load before the import starts
        let launch = (plan.dashboards + plan.streams).div_ceil(plan.rate) as u64;
        tokio::time::sleep(Duration::from_secs(launch + 1) + load::DASHBOARD_EVERY).await;
        Some(attack)
    } else {
        None
    };
    let started = server.start_import("Importação sob carga").await;
    let outcome = match started {
        Ok(job) => {
            shared.importing.store(true, Ordering::Relaxed);
            *shared.job.write().unwrap_or_else(|p| p.into_inner()) = Some(job.id.clone());
            let done = server.wait_import(&job.id).await;
            shared.importing.store(false, Ordering::Relaxed);
            done
        }
        Err(e) => Err(e),
    };
    let metrics = match attack {
        Some(attack) => {
            // the streams end with the import; give them a moment to read `done`
            tokio::time::sleep(Duration::from_secs(2)).await;
            goose::trigger_killswitch("the import ended");
            let metrics = attack.await;
            load::set_round(None);
            Some(
                metrics
                    .map_err(|e| format!("goose: {e}"))?
                    .map_err(|e| format!("goose: {e}"))?,
            )
        }
        None => None,
    };
    let import = outcome?;
    if import.status != "completed" || import.processados != u64::from(plan.customers) {
        return Err(format!(
            "the import ended {} with {} of {} customers and {} errors",
            import.status, import.processados, plan.customers, import.erros
        ));
    }
    let rate = import.rate().ok_or("the import has no start or end time")?;
    Ok((
        rate,
        metrics.map(|m| LoadedRound::from_metrics(&m, &shared)),
    ))
}

fn print_log_tail(path: &Path) {
    if let Ok(text) = std::fs::read_to_string(path) {
        let lines: Vec<&str> = text.lines().collect();
        for line in &lines[lines.len().saturating_sub(20)..] {
            println!("  server: {line}");
        }
    }
}
