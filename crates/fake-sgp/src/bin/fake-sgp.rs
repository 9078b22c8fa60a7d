//! `fake-sgp`: runs the fake SGP until Ctrl-C.

use std::time::Duration;

use clap::Parser;
use fake_sgp::{FakeConfig, FakeSgp, Fault};

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
    /// Hostile: answer every customer list this way: `endless-body`,
    /// `huge-length`, `redirect` (to --redirect-to), `status-500`...
    #[arg(long, value_parser = hostile)]
    hostile: Option<Fault>,
    /// Where `--hostile redirect` points.
    #[arg(long, default_value = "http://127.0.0.1:9/api/ura/clientes/")]
    redirect_to: String,
    /// Hostile: every k-th customer with NUL and control characters.
    #[arg(long, default_value_t = 0)]
    nul_every: u32,
    /// Hostile: every k-th customer with a 1 MB string.
    #[arg(long, default_value_t = 0)]
    huge_strings_every: u32,
    /// Hostile: every k-th customer with every field of the wrong type.
    #[arg(long, default_value_t = 0)]
    wrong_types_every: u32,
}

fn hostile(s: &str) -> Result<Fault, String> {
    Ok(match s {
        "endless-body" => Fault::EndlessBody,
        "huge-length" => Fault::HugeLength,
        "redirect" => Fault::Redirect,
        "endless-error" => Fault::EndlessError,
        "drop" => Fault::Drop,
        "hang" => Fault::Hang,
        "malformed" => Fault::Malformed,
        other => match other.strip_prefix("status-").map(str::parse::<u16>) {
            Some(Ok(code)) => Fault::Status(code),
            _ => {
                return Err(format!(
                    "unknown hostile mode {other:?}: use endless-body, huge-length, redirect, \
                     endless-error, drop, hang, malformed or status-NNN"
                ))
            }
        },
    })
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
    config.population.quirks.nul_every = args.nul_every;
    config.population.quirks.huge_strings_every = args.huge_strings_every;
    config.population.quirks.wrong_types_every = args.wrong_types_every;
    config.hostile = args.hostile;
    config.redirect_to = args.redirect_to;
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
