//! Typed settings: the app's own tables in `Leptos.toml`, each overridable by
//! an environment variable. A bad value becomes a [`ConfigError`] whose
//! `Display` is one line naming the setting, so start-up can print it and
//! exit instead of panicking.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod database_url;
pub use database_url::DatabaseUrl;

/// One setting: its key in the config file and the environment variables
/// that override it (first one set wins).
struct Key {
    path: &'static str,
    env: &'static [&'static str],
}

const SERVER_ADDR: Key = Key {
    path: "server.addr",
    env: &["SERVER_ADDR", "LEPTOS_SITE_ADDR"],
};
const SHUTDOWN_GRACE: Key = Key {
    path: "server.shutdown_grace_secs",
    env: &["SHUTDOWN_GRACE_SECS"],
};
const DATABASE_URL: Key = Key {
    path: "database.url",
    env: &["DATABASE_URL"],
};
const DATABASE_MAX_CONNECTIONS: Key = Key {
    path: "database.max_connections",
    env: &["DATABASE_MAX_CONNECTIONS"],
};
const DATABASE_CONNECT_TIMEOUT: Key = Key {
    path: "database.connect_timeout_secs",
    env: &["DATABASE_CONNECT_TIMEOUT_SECS"],
};
const DATA_DIR: Key = Key {
    path: "data.dir",
    env: &["DATA_DIR"],
};
const EXECUTOR_SLOTS: Key = Key {
    path: "executor.slots",
    env: &["EXECUTOR_SLOTS"],
};
const JOB_TIMEOUT: Key = Key {
    path: "executor.job_timeout_secs",
    env: &["JOB_TIMEOUT_SECS"],
};
const POLL_INTERVAL: Key = Key {
    path: "executor.poll_interval_ms",
    env: &["EXECUTOR_POLL_INTERVAL_MS"],
};
const HEARTBEAT: Key = Key {
    path: "executor.heartbeat_secs",
    env: &["EXECUTOR_HEARTBEAT_SECS"],
};
const LEASE: Key = Key {
    path: "executor.lease_secs",
    env: &["EXECUTOR_LEASE_SECS"],
};
const RETENTION: Key = Key {
    path: "executor.retention_days",
    env: &["JOB_RETENTION_DAYS"],
};
const SGP_CONNECT_TIMEOUT: Key = Key {
    path: "sgp.connect_timeout_secs",
    env: &["SGP_CONNECT_TIMEOUT_SECS"],
};
const SGP_REQUEST_TIMEOUT: Key = Key {
    path: "sgp.request_timeout_secs",
    env: &["SGP_REQUEST_TIMEOUT_SECS"],
};
const SGP_RETRIES: Key = Key {
    path: "sgp.retries",
    env: &["SGP_RETRIES"],
};
const SECRET_KEY: Key = Key {
    path: "security.secret_key",
    env: &["SECRET_KEY"],
};
const DEMO_CUSTOMERS: Key = Key {
    path: "demo.customers",
    env: &["DEMO_CUSTOMERS"],
};
const DEMO_LATENCY: Key = Key {
    path: "demo.sgp_latency_ms",
    env: &["DEMO_SGP_LATENCY_MS"],
};
const LOG_FILTER: Key = Key {
    path: "log.filter",
    env: &["LOG_FILTER", "RUST_LOG"],
};
const LOG_FORMAT: Key = Key {
    path: "log.format",
    env: &["LOG_FORMAT"],
};
const SESSION_IDLE: Key = Key {
    path: "auth.session_idle_minutes",
    env: &["SESSION_IDLE_MINUTES"],
};
const SESSION_MAX: Key = Key {
    path: "auth.session_max_hours",
    env: &["SESSION_MAX_HOURS"],
};
const LOGIN_MAX_FAILURES: Key = Key {
    path: "auth.max_failures_per_account",
    env: &["LOGIN_MAX_FAILURES"],
};
const LOGIN_MAX_FAILURES_IP: Key = Key {
    path: "auth.max_failures_per_address",
    env: &["LOGIN_MAX_FAILURES_PER_ADDRESS"],
};
const DEMO: Key = Key {
    path: "demo.enabled",
    env: &["DEMO"],
};
const PUBLIC_URL: Key = Key {
    path: "server.public_url",
    env: &["PUBLIC_URL"],
};
const OUTBOUND_ALLOWED: Key = Key {
    path: crate::outbound::ALLOWED_NETWORKS_SETTING,
    env: &[crate::outbound::ALLOWED_NETWORKS_ENV],
};
const SGP_MAX_RESPONSE: Key = Key {
    path: "sgp.max_response_bytes",
    env: &["SGP_MAX_RESPONSE_BYTES"],
};
const IMPORT_MAX_ACTIVE: Key = Key {
    path: "import.max_active_per_tenant",
    env: &["IMPORT_MAX_ACTIVE_PER_TENANT"],
};
const IMPORT_MAX_REMOVAL: Key = Key {
    path: "import.max_removal_percent",
    env: &["IMPORT_MAX_REMOVAL_PERCENT"],
};
const SMTP_URL: Key = Key {
    path: "notify.smtp_url",
    env: &["SMTP_URL"],
};
const SMTP_FROM: Key = Key {
    path: "notify.smtp_from",
    env: &["SMTP_FROM"],
};
const METRICS_TOKEN: Key = Key {
    path: "server.metrics_token",
    env: &["METRICS_TOKEN"],
};
const SCHEDULE_MIN_INTERVAL: Key = Key {
    path: "schedule.min_interval_minutes",
    env: &["SCHEDULE_MIN_INTERVAL_MINUTES"],
};
const SCHEDULE_CHECK_INTERVAL: Key = Key {
    path: "schedule.check_interval_seconds",
    env: &["SCHEDULE_CHECK_INTERVAL_SECONDS"],
};
const LOGIN_MAX_CONCURRENT: Key = Key {
    path: "auth.max_concurrent_logins",
    env: &["LOGIN_MAX_CONCURRENT"],
};

const ALL_KEYS: &[&Key] = &[
    &SERVER_ADDR,
    &SHUTDOWN_GRACE,
    &PUBLIC_URL,
    &DATABASE_URL,
    &DATABASE_MAX_CONNECTIONS,
    &DATABASE_CONNECT_TIMEOUT,
    &DATA_DIR,
    &EXECUTOR_SLOTS,
    &JOB_TIMEOUT,
    &POLL_INTERVAL,
    &HEARTBEAT,
    &LEASE,
    &RETENTION,
    &SGP_CONNECT_TIMEOUT,
    &SGP_REQUEST_TIMEOUT,
    &SGP_RETRIES,
    &SGP_MAX_RESPONSE,
    &OUTBOUND_ALLOWED,
    &IMPORT_MAX_ACTIVE,
    &IMPORT_MAX_REMOVAL,
    &SCHEDULE_MIN_INTERVAL,
    &SCHEDULE_CHECK_INTERVAL,
    &SMTP_URL,
    &SMTP_FROM,
    &METRICS_TOKEN,
    &SECRET_KEY,
    &SESSION_IDLE,
    &SESSION_MAX,
    &LOGIN_MAX_FAILURES,
    &LOGIN_MAX_FAILURES_IP,
    &LOGIN_MAX_CONCURRENT,
    &LOG_FILTER,
    &LOG_FORMAT,
    &DEMO,
    &DEMO_CUSTOMERS,
    &DEMO_LATENCY,
];

/// Every setting and the environment variables that override it, for
/// `--help` texts and the README.
pub fn documented_keys() -> impl Iterator<Item = (&'static str, &'static [&'static str])> {
    ALL_KEYS.iter().map(|k| (k.path, k.env))
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub data_dir: PathBuf,
    pub executor: ExecutorSettings,
    pub sgp: SgpSettings,
    pub log: LogSettings,
    /// Seals SGP secrets at rest; `None` until configured (demo mode makes
    /// one up for the run).
    pub secret_key: Option<crate::sealing::Sealer>,
    /// Seeds a demo provider whose integration points at an embedded fake SGP.
    pub demo: bool,
    /// The demo runs only because this is a debug build without a key
    /// and nobody said otherwise (start-up says so).
    pub demo_by_default: bool,
    pub demo_sgp: DemoSettings,
    pub auth: AuthSettings,
    /// Which addresses requests to tenant-typed URLs (SGP) may reach.
    pub outbound: crate::outbound::OutboundPolicy,
    pub import: ImportSettings,
    pub schedule: ScheduleSettings,
    pub notify: NotifySettings,
    /// The bearer token `/metrics` wants; without one it is not served.
    pub metrics_token: Option<crate::secret::Secret>,
}

/// How notifications go out.
#[derive(Clone, Debug, Default)]
pub struct NotifySettings {
    /// The operator's SMTP server; without it e-mail targets are refused.
    pub smtp: Option<SmtpSettings>,
}

#[derive(Clone, Debug)]
pub struct SmtpSettings {
    /// `smtp://user:password@host:587?tls=required`, `smtps://...`; may
    /// hold a password, so it is a secret.
    pub url: crate::secret::Secret,
    /// The sender, `Importador <noreply@provedor.com.br>`.
    pub from: String,
}

/// Automatic syncs.
#[derive(Clone, Debug)]
pub struct ScheduleSettings {
    /// Schedules that would run more often than this are refused.
    pub min_interval: Duration,
    /// How often each instance looks for due schedules; a slot starts at
    /// most this late.
    pub check_interval: Duration,
}

impl Default for ScheduleSettings {
    fn default() -> Self {
        ScheduleSettings {
            min_interval: Duration::from_secs(15 * 60),
            check_interval: Duration::from_secs(20),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ImportSettings {
    /// Imports one provider may have queued or running at once; more are
    /// refused (409) until some finish.
    pub max_active_per_tenant: u32,
    /// A complete import that would mark more than this share (in
    /// percent) of a provider's customers as removed marks none and waits
    /// for an admin's confirmation.
    pub max_removal_percent: u32,
}

impl Default for ImportSettings {
    fn default() -> Self {
        ImportSettings {
            max_active_per_tenant: 10,
            max_removal_percent: crate::import::DEFAULT_MAX_REMOVAL_PERCENT,
        }
    }
}

/// Sessions and login throttling.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// A session unused this long ends.
    pub session_idle: Duration,
    /// A session ends this long after login, used or not.
    pub session_max: Duration,
    /// Failed logins of one account within `failure_window` before
    /// further attempts are refused.
    pub max_failures_per_account: u32,
    /// The same, from one address (many accounts tried).
    pub max_failures_per_address: u32,
    pub failure_window: Duration,
    /// Password checks (Argon2, 19 MiB and tens of milliseconds of CPU
    /// each) run at once; a login past them waits briefly, then gets a 429.
    pub max_concurrent_logins: u32,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            session_idle: Duration::from_secs(8 * 3600),
            session_max: Duration::from_secs(7 * 24 * 3600),
            max_failures_per_account: 5,
            max_failures_per_address: 20,
            failure_window: Duration::from_secs(15 * 60),
            max_concurrent_logins: 4,
        }
    }
}

#[derive(Clone, Debug)]
pub struct DemoSettings {
    pub customers: u32,
    pub latency: Duration,
}

#[derive(Clone, Debug)]
pub struct ServerSettings {
    pub addr: SocketAddr,
    /// The address browsers use (`https://importa.provedor.com.br`), when
    /// the app sits behind a proxy: the origin checked on every write and
    /// whether cookies are `Secure`. Unset: the request's own Host.
    pub public_url: Option<url::Url>,
    /// How long running jobs get to finish on shutdown before they are left
    /// for the next process to resume.
    pub shutdown_grace: Duration,
}

#[derive(Clone, Debug)]
pub struct DatabaseSettings {
    pub url: DatabaseUrl,
    pub max_connections: u32,
    pub connect_timeout: Duration,
}

#[derive(Clone, Debug)]
pub struct ExecutorSettings {
    pub slots: usize,
    pub job_timeout: Duration,
    pub poll_interval: Duration,
    pub heartbeat: Duration,
    pub lease: Duration,
    /// Finished jobs older than this are purged; `None` keeps them forever.
    pub retention: Option<Duration>,
}

#[derive(Clone, Debug)]
pub struct SgpSettings {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Retries of one failed request before the attempt gives up.
    pub retries: u32,
    /// The most one SGP answer may weigh.
    pub max_response_bytes: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug)]
pub struct LogSettings {
    pub filter: String,
    pub format: LogFormat,
}

/// Where a rejected value came from, so the message points at what to fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Env(String),
    File(PathBuf),
    Default,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    FileUnreadable { path: PathBuf, reason: String },
    #[error("config file {path} is not valid TOML: {reason}")]
    FileSyntax { path: PathBuf, reason: String },
    #[error("unknown setting {key} in {path} (known settings: {known})")]
    UnknownKey {
        key: String,
        path: PathBuf,
        known: String,
    },
    #[error("invalid setting {key} ({origin}): {problem}")]
    Invalid {
        key: &'static str,
        origin: OriginDisplay,
        problem: String,
    },
}

/// `Origin` rendered for the one-line error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginDisplay(pub Origin);

impl fmt::Display for OriginDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Origin::Env(name) => write!(f, "from environment variable {name}"),
            Origin::File(path) => write!(f, "from {}", path.display()),
            Origin::Default => f.write_str("default"),
        }
    }
}

/// The raw material settings are read from: the parsed file (if any) and a
/// way to read environment variables (injected so tests need not touch the
/// process environment).
pub struct Sources<'a> {
    file: Option<(PathBuf, toml::Table)>,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Sources<'a> {
    /// Reads `path` when given; a missing file is an error only when
    /// `required` (it was named explicitly).
    pub fn load(
        path: Option<&Path>,
        required: bool,
        env: &'a dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let file = match path {
            None => None,
            Some(path) => match std::fs::read_to_string(path) {
                Ok(text) => Some((path.to_owned(), parse_file(path, &text)?)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => None,
                Err(e) => {
                    return Err(ConfigError::FileUnreadable {
                        path: path.to_owned(),
                        reason: e.to_string(),
                    })
                }
            },
        };
        Ok(Sources { file, env })
    }

    /// The path of the config file that was read, if any.
    pub fn file_path(&self) -> Option<&Path> {
        self.file.as_ref().map(|(p, _)| p.as_path())
    }

    fn raw(&self, key: &Key) -> Option<(String, Origin)> {
        for name in key.env {
            if let Some(value) = (self.env)(name) {
                return Some((value, Origin::Env((*name).to_owned())));
            }
        }
        let (path, table) = self.file.as_ref()?;
        let (section, field) = key.path.split_once('.').expect("keys are section.field");
        let value = table.get(section)?.as_table()?.get(field)?;
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(x) => x.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => format!("{other}"),
        };
        Some((text, Origin::File(path.clone())))
    }

    fn get<T>(
        &self,
        key: &'static Key,
        default: T,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<(T, Origin), ConfigError> {
        match self.raw(key) {
            None => Ok((default, Origin::Default)),
            Some((text, origin)) => {
                parse(text.trim())
                    .map(|v| (v, origin.clone()))
                    .map_err(|problem| ConfigError::Invalid {
                        key: key.path,
                        origin: OriginDisplay(origin),
                        problem,
                    })
            }
        }
    }

    fn value<T>(
        &self,
        key: &'static Key,
        default: T,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        self.get(key, default, parse).map(|(v, _)| v)
    }
}

fn parse_file(path: &Path, text: &str) -> Result<toml::Table, ConfigError> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        // toml's messages span several lines with a source excerpt; keep the
        // gist on one line.
        let reason = e.message().replace('\n', " ");
        let at = e
            .span()
            .map(|span| {
                let line = text[..span.start].matches('\n').count() + 1;
                format!(" (line {line})")
            })
            .unwrap_or_default();
        ConfigError::FileSyntax {
            path: path.to_owned(),
            reason: format!("{reason}{at}"),
        }
    })?;
    let known: BTreeSet<&str> = ALL_KEYS.iter().map(|k| k.path).collect();
    for (section, value) in &table {
        // Leptos' own build and runtime settings live in [package.metadata.leptos].
        if section == "package" {
            continue;
        }
        let fields: Vec<String> = match value.as_table() {
            Some(t) => t.keys().map(|f| format!("{section}.{f}")).collect(),
            None => vec![section.clone()],
        };
        for key in fields {
            if !known.contains(key.as_str()) {
                return Err(ConfigError::UnknownKey {
                    key,
                    path: path.to_owned(),
                    known: known.iter().copied().collect::<Vec<_>>().join(", "),
                });
            }
        }
    }
    Ok(table)
}

fn whole_number(min: u64, max: u64) -> impl Fn(&str) -> Result<u64, String> {
    move |s| match s.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected a whole number from {min} to {max}, got {s:?}"
        )),
    }
}

fn seconds(min: u64, max: u64) -> impl Fn(&str) -> Result<Duration, String> {
    let n = whole_number(min, max);
    move |s| n(s).map(Duration::from_secs)
}

/// Whether the demo runs when `DEMO` is not set: in a debug build without
/// a secret key (development), never in a release build.
pub fn demo_default(debug_build: bool, has_secret_key: bool) -> bool {
    debug_build && !has_secret_key
}

fn boolean(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("expected true or false, got {s:?}")),
    }
}

impl Settings {
    /// Reads every setting; the first bad one is the error.
    pub fn from_sources(src: &Sources<'_>) -> Result<Settings, ConfigError> {
        let addr = src.value(
            &SERVER_ADDR,
            SocketAddr::from(([127, 0, 0, 1], 3000)),
            |s| {
                s.parse::<SocketAddr>()
                    .map_err(|_| format!("expected an address like 127.0.0.1:3000, got {s:?}"))
            },
        )?;
        let shutdown_grace =
            src.value(&SHUTDOWN_GRACE, Duration::from_secs(30), seconds(0, 3600))?;
        let public_url = src.value(&PUBLIC_URL, None, |s| {
            if s.is_empty() {
                return Ok(None);
            }
            let url = url::Url::parse(s)
                .map_err(|_| format!("expected a URL like https://importa.provedor.com.br, got {s:?}"))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(format!("expected an http:// or https:// URL with a host, got {s:?}"));
            }
            if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
                return Err(format!(
                    "expected the site's origin only (scheme, host, port), without a path, got {s:?}"
                ));
            }
            Ok(Some(url))
        })?;

        let data_dir = src.value(&DATA_DIR, PathBuf::from("data"), |s| {
            if s.is_empty() {
                Err("must not be empty".to_owned())
            } else {
                Ok(PathBuf::from(s))
            }
        })?;
        let (url, origin) = src.get(&DATABASE_URL, None, |s| {
            if s.is_empty() {
                Ok(None)
            } else {
                DatabaseUrl::parse(s).map(Some)
            }
        })?;
        let url = match url {
            Some(url) => url,
            None => DatabaseUrl::sqlite_in(&data_dir).map_err(|problem| ConfigError::Invalid {
                key: DATABASE_URL.path,
                origin: OriginDisplay(origin),
                problem,
            })?,
        };
        let max_connections =
            src.value(&DATABASE_MAX_CONNECTIONS, 10, whole_number(1, 1000))? as u32;
        let connect_timeout = src.value(
            &DATABASE_CONNECT_TIMEOUT,
            Duration::from_secs(10),
            seconds(1, 600),
        )?;

        let slots = src.value(&EXECUTOR_SLOTS, 4, whole_number(1, 256))? as usize;
        let job_timeout = src.value(
            &JOB_TIMEOUT,
            Duration::from_secs(6 * 3600),
            seconds(1, 7 * 24 * 3600),
        )?;
        let poll_interval = src.value(&POLL_INTERVAL, Duration::from_millis(1000), |s| {
            whole_number(10, 600_000)(s).map(Duration::from_millis)
        })?;
        let heartbeat = src.value(&HEARTBEAT, Duration::from_secs(10), seconds(1, 3600))?;
        let (lease, lease_origin) =
            src.get(&LEASE, Duration::from_secs(60), seconds(2, 24 * 3600))?;
        if lease < heartbeat * 2 {
            return Err(ConfigError::Invalid {
                key: LEASE.path,
                origin: OriginDisplay(lease_origin),
                problem: format!(
                    "the lease ({}s) must be at least twice the heartbeat ({}s), or live jobs would be rescued",
                    lease.as_secs(),
                    heartbeat.as_secs()
                ),
            });
        }

        let retention = src.value(&RETENTION, Some(Duration::from_secs(90 * 86_400)), |s| {
            whole_number(0, 36_500)(s)
                .map(|days| (days > 0).then(|| Duration::from_secs(days * 86_400)))
        })?;

        let sgp_connect = src.value(
            &SGP_CONNECT_TIMEOUT,
            Duration::from_secs(10),
            seconds(1, 600),
        )?;
        let sgp_request = src.value(
            &SGP_REQUEST_TIMEOUT,
            Duration::from_secs(60),
            seconds(1, 3600),
        )?;

        let sgp_retries = src.value(&SGP_RETRIES, 5, whole_number(0, 20))? as u32;
        let sgp_max_response = src.value(
            &SGP_MAX_RESPONSE,
            crate::sgp::client::DEFAULT_MAX_RESPONSE_BYTES,
            whole_number(64 * 1024, 1 << 32),
        )?;
        let outbound = src.value(
            &OUTBOUND_ALLOWED,
            crate::outbound::OutboundPolicy::public_only(),
            |s| {
                crate::outbound::OutboundPolicy::parse_networks(s)
                    .map(crate::outbound::OutboundPolicy::allowing)
            },
        )?;
        let import = ImportSettings {
            max_active_per_tenant: src.value(
                &IMPORT_MAX_ACTIVE,
                u64::from(ImportSettings::default().max_active_per_tenant),
                whole_number(1, 10_000),
            )? as u32,
            max_removal_percent: src.value(
                &IMPORT_MAX_REMOVAL,
                u64::from(ImportSettings::default().max_removal_percent),
                whole_number(0, 100),
            )? as u32,
        };
        let schedule = ScheduleSettings {
            min_interval: src.value(
                &SCHEDULE_MIN_INTERVAL,
                ScheduleSettings::default().min_interval,
                |s| whole_number(1, 7 * 24 * 60)(s).map(|m| Duration::from_secs(m * 60)),
            )?,
            check_interval: src.value(
                &SCHEDULE_CHECK_INTERVAL,
                ScheduleSettings::default().check_interval,
                seconds(1, 3600),
            )?,
        };
        let smtp_url =
            src.value(&SMTP_URL, None, |s| {
                let url =
                    url::Url::parse(s).map_err(|_| "not a URL (smtp://host:port)".to_owned())?;
                match url.scheme() {
                "smtp" | "smtps" if url.host_str().is_none() => {
                    Err("expected smtp://host:port or smtps://host:port".to_owned())
                }
                // a password never crosses the network in clear
                "smtp"
                    if (!url.username().is_empty() || url.password().is_some())
                        && !url.query_pairs().any(|(k, v)| k == "tls" && v == "required") =>
                {
                    Err("with a user and password, use smtps:// or add ?tls=required (STARTTLS)"
                        .to_owned())
                }
                "smtp" | "smtps" => Ok(Some(crate::secret::Secret::new(s))),
                _ => Err("expected smtp://host:port or smtps://host:port".to_owned()),
            }
            })?;
        let (smtp_from, from_origin) = src.get(&SMTP_FROM, String::new(), |s| {
            let s = s.trim();
            match s.parse::<lettre::message::Mailbox>() {
                _ if s.is_empty() => Ok(String::new()),
                Ok(_) => Ok(s.to_owned()),
                Err(_) => {
                    Err("not an e-mail sender (Importador <noreply@provedor.com.br>)".to_owned())
                }
            }
        })?;
        let smtp = match (smtp_url, smtp_from.is_empty()) {
            (None, _) => None,
            (Some(_), true) => {
                return Err(ConfigError::Invalid {
                    key: SMTP_FROM.path,
                    origin: OriginDisplay(from_origin),
                    problem: "SMTP_URL is set: say who the e-mails come from (SMTP_FROM)"
                        .to_owned(),
                })
            }
            (Some(url), false) => Some(SmtpSettings {
                url,
                from: smtp_from,
            }),
        };
        let metrics_token = src.value(&METRICS_TOKEN, None, |s| {
            if s.len() < 16 {
                Err("must be at least 16 characters".to_owned())
            } else {
                Ok(Some(crate::secret::Secret::new(s)))
            }
        })?;
        // the key itself never goes into an error message
        let secret_key = src.value(&SECRET_KEY, None, |s| {
            if s.is_empty() {
                Ok(None)
            } else {
                crate::sealing::Sealer::from_base64(s)
                    .map(Some)
                    .map_err(|e| e.to_string())
            }
        })?;

        let filter = src.value(
            &LOG_FILTER,
            "info,sqlx=warn,tower_http=info".to_owned(),
            |s| {
                if s.is_empty() {
                    Err("must not be empty (try \"info\")".to_owned())
                } else {
                    Ok(s.to_owned())
                }
            },
        )?;
        let format = src.value(&LOG_FORMAT, LogFormat::Text, |s| match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("expected text or json, got {s:?}")),
        })?;
        // A debug build with no key and no say on the demo runs the demo:
        // `cargo leptos watch` in a fresh clone serves at once. A release
        // build has no such default and refuses to start without a key.
        let demo_by_default = demo_default(cfg!(debug_assertions), secret_key.is_some());
        let (demo, demo_origin) = src.get(&DEMO, demo_by_default, boolean)?;
        let demo_by_default = demo && demo_origin == Origin::Default;
        let demo_customers = src.value(&DEMO_CUSTOMERS, 3000, whole_number(1, 1_000_000))? as u32;
        let demo_latency = src.value(&DEMO_LATENCY, Duration::from_millis(200), |s| {
            whole_number(0, 60_000)(s).map(Duration::from_millis)
        })?;

        let auth_defaults = AuthSettings::default();
        let session_idle = src.value(&SESSION_IDLE, auth_defaults.session_idle, |s| {
            whole_number(1, 30 * 24 * 60)(s).map(|m| Duration::from_secs(m * 60))
        })?;
        let session_max = src.value(&SESSION_MAX, auth_defaults.session_max, |s| {
            whole_number(1, 90 * 24)(s).map(|h| Duration::from_secs(h * 3600))
        })?;
        let max_failures_per_account = src.value(
            &LOGIN_MAX_FAILURES,
            auth_defaults.max_failures_per_account as u64,
            whole_number(1, 1000),
        )? as u32;
        let max_failures_per_address = src.value(
            &LOGIN_MAX_FAILURES_IP,
            auth_defaults.max_failures_per_address as u64,
            whole_number(1, 100_000),
        )? as u32;
        let max_concurrent_logins = src.value(
            &LOGIN_MAX_CONCURRENT,
            u64::from(auth_defaults.max_concurrent_logins),
            whole_number(1, 256),
        )? as u32;

        Ok(Settings {
            auth: AuthSettings {
                session_idle,
                session_max,
                max_failures_per_account,
                max_failures_per_address,
                failure_window: auth_defaults.failure_window,
                max_concurrent_logins,
            },
            server: ServerSettings {
                addr,
                shutdown_grace,
                public_url,
            },
            database: DatabaseSettings {
                url,
                max_connections,
                connect_timeout,
            },
            data_dir,
            executor: ExecutorSettings {
                slots,
                job_timeout,
                poll_interval,
                heartbeat,
                lease,
                retention,
            },
            sgp: SgpSettings {
                connect_timeout: sgp_connect,
                request_timeout: sgp_request,
                retries: sgp_retries,
                max_response_bytes: sgp_max_response,
            },
            outbound,
            import,
            schedule,
            notify: NotifySettings { smtp },
            metrics_token,
            log: LogSettings { filter, format },
            secret_key,
            demo,
            demo_by_default,
            demo_sgp: DemoSettings {
                customers: demo_customers,
                latency: demo_latency,
            },
        })
    }

    /// Reads `path` (or nothing) and the process environment.
    pub fn load(path: Option<&Path>, required: bool) -> Result<Settings, ConfigError> {
        let env = |name: &str| std::env::var(name).ok();
        let sources = Sources::load(path, required, &env)?;
        Settings::from_sources(&sources)
    }
}

#[cfg(test)]
mod tests;
