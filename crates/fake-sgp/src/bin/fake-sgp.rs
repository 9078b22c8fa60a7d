//! `fake-sgp`: runs the fake SGP until Ctrl-C.

use std::time::Duration;

use clap::Parser;
use fake_sgp::{FakeConfig, FakeSgp};

/// A fake SGP server with deterministic customers.
#[derive(Parser, Debug)]
#[command(name = "fake-sgp", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "FAKE_SGP_ADDR", default_value = "127.0.0.1:8089")]
    addr: String,
    /// How many customers it has.
    #[arg(long, env = "FAKE_SGP_CUSTOMERS", default_value_t = 5000)]
    customers: u32,
    /// Delay added to every page, in milliseconds.
    #[arg(long, env = "FAKE_SGP_LATENCY_MS", default_value_t = 0)]
    latency_ms: u64,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    #[arg(long, env = "FAKE_SGP_TOKEN")]
    token: Option<String>,
    #[arg(long, env = "FAKE_SGP_APP")]
    app: Option<String>,
    #[arg(long, env = "FAKE_SGP_USER")]
    user: Option<String>,
    #[arg(long, env = "FAKE_SGP_PASSWORD")]
    password: Option<String>,
    /// Send the first page whatever the offset (a quirk of some installations).
    #[arg(long)]
    ignore_offset: bool,
    /// Leave `paginacao` out of answers.
    #[arg(long)]
    omit_pagination: bool,
    /// Contracts keyed `id`, text numbers, DD/MM/YYYY dates, padded statuses.
    #[arg(long)]
    alternate_shapes: bool,
    /// Every k-th customer without `id`.
    #[arg(long, default_value_t = 0)]
    missing_ids_every: u32,
    /// Every k-th customer with an invalid CPF.
    #[arg(long, default_value_t = 0)]
    bad_rows_every: u32,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let mut config = FakeConfig::new(args.customers);
    config.population.seed = args.seed;
    config.latency = Duration::from_millis(args.latency_ms);
    config.ignore_offset = args.ignore_offset;
    config.omit_pagination = args.omit_pagination;
    config.population.quirks.alternate_shapes = args.alternate_shapes;
    config.population.quirks.missing_ids_every = args.missing_ids_every;
    config.population.quirks.bad_rows_every = args.bad_rows_every;
    let creds = &mut config.credentials;
    if let Some(t) = args.token {
        creds.token = t;
    }
    if let Some(a) = args.app {
        creds.app = a;
    }
    if let Some(u) = args.user {
        creds.user = u;
    }
    if let Some(p) = args.password {
        creds.password = p;
    }
    let shown = config.credentials.clone();
    let fake = match FakeSgp::start_on(config, &args.addr).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", args.addr);
            std::process::exit(1);
        }
    };
    // A development tool: it prints its own (fake) credentials on purpose.
    eprintln!(
        "fake SGP at {} with {} customers\n  token: {}  app: {}\n  user: {}  password: {}",
        fake.url(),
        args.customers,
        shown.token,
        shown.app,
        shown.user,
        shown.password
    );
    let _ = tokio::signal::ctrl_c().await;
    fake.stop().await;
}
