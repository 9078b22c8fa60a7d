use super::*;
use std::collections::HashMap;

fn settings(file: Option<&str>, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Leptos.toml");
    if let Some(text) = file {
        std::fs::write(&path, text).unwrap();
    }
    let vars: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |name: &str| vars.get(name).cloned();
    let sources = Sources::load(Some(&path), false, &lookup)?;
    Settings::from_sources(&sources)
}

fn error_line(file: Option<&str>, env: &[(&str, &str)]) -> String {
    let line = settings(file, env).unwrap_err().to_string();
    assert!(!line.contains('\n'), "error must be one line: {line}");
    line
}

#[test]
fn defaults_need_no_file_and_pick_sqlite_in_the_data_dir() {
    let s = settings(None, &[]).unwrap();
    assert_eq!(s.server.addr.to_string(), "127.0.0.1:3000");
    assert_eq!(
        s.database.url,
        DatabaseUrl::Sqlite("sqlite://data/sgp-import.db".into())
    );
    assert_eq!(s.executor.slots, 4);
    assert_eq!(
        s.executor.retention,
        Some(std::time::Duration::from_secs(90 * 86_400))
    );
    // no key: the demo only in a debug build (see the development test)
    assert_eq!(s.demo, cfg!(debug_assertions));
    let s = settings(None, &[("JOB_RETENTION_DAYS", "0")]).unwrap();
    assert_eq!(s.executor.retention, None, "0 keeps finished jobs forever");
}

#[test]
fn file_values_are_read_and_env_overrides_them() {
    let file = r#"
[server]
addr = "0.0.0.0:8080"
[executor]
slots = 8
[data]
dir = "/var/lib/sgp"
[package.metadata.leptos]
output-name = "sgp-import"
"#;
    let s = settings(Some(file), &[]).unwrap();
    assert_eq!(s.server.addr.to_string(), "0.0.0.0:8080");
    assert_eq!(s.executor.slots, 8);
    assert_eq!(
        s.database.url.expose(),
        "sqlite:///var/lib/sgp/sgp-import.db"
    );

    let s = settings(
        Some(file),
        &[
            ("EXECUTOR_SLOTS", "2"),
            ("SERVER_ADDR", "127.0.0.1:4000"),
            ("DEMO", "true"),
        ],
    )
    .unwrap();
    assert_eq!(s.executor.slots, 2);
    assert_eq!(s.server.addr.to_string(), "127.0.0.1:4000");
    assert!(s.demo);
}

#[test]
fn server_addr_falls_back_to_the_leptos_variable() {
    let s = settings(None, &[("LEPTOS_SITE_ADDR", "127.0.0.1:3999")]).unwrap();
    assert_eq!(s.server.addr.port(), 3999);
    let s = settings(
        None,
        &[
            ("LEPTOS_SITE_ADDR", "127.0.0.1:3999"),
            ("SERVER_ADDR", "127.0.0.1:4001"),
        ],
    )
    .unwrap();
    assert_eq!(s.server.addr.port(), 4001);
}

#[test]
fn database_url_accepts_sqlite_and_postgres() {
    let s = settings(None, &[("DATABASE_URL", "sqlite:/tmp/x.db")]).unwrap();
    assert!(matches!(s.database.url, DatabaseUrl::Sqlite(_)));
    let s = settings(
        None,
        &[("DATABASE_URL", "postgres://u:secret@db.local:5432/sgp")],
    )
    .unwrap();
    assert!(matches!(s.database.url, DatabaseUrl::Postgres(_)));
    assert_eq!(
        s.database.url.to_string(),
        "postgres://u:***@db.local:5432/sgp"
    );
    assert!(!format!("{:?}", s.database.url).contains("secret"));
    // libpq and sqlx also take the password in the query string
    for url in [
        "postgres://u@db.local/sgp?password=secret&sslmode=require",
        "postgres://u@db.local/sgp?sslmode=verify-full&sslpassword=secret",
        "postgres://u:secret@db.local/sgp?PASSWORD=secret",
    ] {
        let s = settings(None, &[("DATABASE_URL", url)]).unwrap();
        let shown = s.database.url.to_string();
        assert!(!shown.contains("secret"), "{shown}");
        assert!(
            shown.contains("sslmode") || shown.contains("***"),
            "{shown}"
        );
        assert!(!format!("{:?}", s.database.url).contains("secret"));
    }
}

#[test]
fn security_settings_are_read_and_checked() {
    let s = settings(
        None,
        &[
            ("OUTBOUND_ALLOWED_NETWORKS", "10.20.0.0/16, 192.168.1.5"),
            ("PUBLIC_URL", "https://importa.provedor.com.br"),
            ("SGP_MAX_RESPONSE_BYTES", "1048576"),
            ("IMPORT_MAX_ACTIVE_PER_TENANT", "3"),
            ("LOGIN_MAX_CONCURRENT", "2"),
            ("SCHEDULE_MIN_INTERVAL_MINUTES", "1"),
            ("SCHEDULE_CHECK_INTERVAL_SECONDS", "2"),
        ],
    )
    .unwrap();
    assert_eq!(s.schedule.min_interval, Duration::from_secs(60));
    assert_eq!(s.schedule.check_interval, Duration::from_secs(2));
    assert!(s.outbound.permits("10.20.1.1".parse().unwrap()));
    assert!(!s.outbound.permits("127.0.0.1".parse().unwrap()));
    assert_eq!(
        s.server.public_url.unwrap().as_str(),
        "https://importa.provedor.com.br/"
    );
    assert_eq!(s.sgp.max_response_bytes, 1 << 20);
    assert_eq!(s.import.max_active_per_tenant, 3);
    assert_eq!(s.auth.max_concurrent_logins, 2);
    // defaults: public addresses only, 32 MB, no public URL
    let d = settings(None, &[]).unwrap();
    assert!(d.outbound.allowed_networks().is_empty());
    assert_eq!(d.sgp.max_response_bytes, 32 << 20);
    assert!(d.server.public_url.is_none());
    assert_eq!(d.schedule.min_interval, Duration::from_secs(15 * 60));
    for (key, value, setting) in [
        (
            "OUTBOUND_ALLOWED_NETWORKS",
            "10.0.0.0/8, intranet",
            "outbound.allowed_networks",
        ),
        ("PUBLIC_URL", "https://importa.net/app", "server.public_url"),
        ("PUBLIC_URL", "ftp://importa.net", "server.public_url"),
        ("SGP_MAX_RESPONSE_BYTES", "10", "sgp.max_response_bytes"),
        (
            "SCHEDULE_MIN_INTERVAL_MINUTES",
            "0",
            "schedule.min_interval_minutes",
        ),
        ("METRICS_TOKEN", "curto", "server.metrics_token"),
        ("SMTP_URL", "http://mail.net", "notify.smtp_url"),
        ("SMTP_FROM", "não é e-mail", "notify.smtp_from"),
    ] {
        let line = error_line(None, &[(key, value)]);
        assert!(line.contains(setting) && line.contains(key), "{line}");
    }
}

#[test]
fn smtp_needs_a_sender_and_secrets_stay_out_of_errors() {
    let line = error_line(
        None,
        &[("SMTP_URL", "smtp://user:s3nh4@mail.net:587?tls=required")],
    );
    assert!(line.contains("SMTP_FROM"), "{line}");
    let line = error_line(
        None,
        &[
            ("SMTP_URL", "smtp://user:s3nh4@mail.net:587"),
            ("SMTP_FROM", "a@b.net"),
        ],
    );
    assert!(
        line.contains("tls=required") && !line.contains("s3nh4"),
        "{line}"
    );
    assert!(!line.contains("s3nh4"), "{line}");
    let line = error_line(None, &[("SMTP_URL", "ftp://user:s3nh4@mail.net")]);
    assert!(!line.contains("s3nh4"), "{line}");
    let line = error_line(None, &[("METRICS_TOKEN", "segredo")]);
    assert!(!line.contains("segredo"), "{line}");
    let s = settings(
        None,
        &[
            ("SMTP_URL", "smtps://user:s3nh4@mail.net:465"),
            ("SMTP_FROM", "Importador <noreply@provedor.com.br>"),
            ("METRICS_TOKEN", "um-token-bem-comprido-1"),
        ],
    )
    .unwrap();
    let smtp = s.notify.smtp.expect("configured");
    assert_eq!(smtp.url.expose(), "smtps://user:s3nh4@mail.net:465");
    assert!(!format!("{smtp:?}").contains("s3nh4"));
    assert_eq!(s.metrics_token.unwrap().expose(), "um-token-bem-comprido-1");
    assert!(settings(None, &[]).unwrap().notify.smtp.is_none());
}

#[test]
fn wrong_database_url_names_the_setting_and_the_variable() {
    let line = error_line(None, &[("DATABASE_URL", "mysql://localhost/db")]);
    assert!(line.contains("database.url"), "{line}");
    assert!(line.contains("DATABASE_URL"), "{line}");
    assert!(line.contains("unsupported database \"mysql\""), "{line}");
    let line = error_line(None, &[("DATABASE_URL", "postgres://")]);
    assert!(line.contains("needs a host"), "{line}");
}

#[test]
fn bad_numbers_and_addresses_are_one_line_errors() {
    let line = error_line(None, &[("EXECUTOR_SLOTS", "many")]);
    assert!(
        line.contains("executor.slots") && line.contains("\"many\""),
        "{line}"
    );
    let line = error_line(None, &[("EXECUTOR_SLOTS", "0")]);
    assert!(line.contains("from 1 to 256"), "{line}");
    let line = error_line(Some("[server]\naddr = \"localhost\"\n"), &[]);
    assert!(
        line.contains("server.addr") && line.contains("Leptos.toml"),
        "{line}"
    );
    let line = error_line(None, &[("LOG_FORMAT", "xml")]);
    assert!(line.contains("log.format"), "{line}");
    let line = error_line(None, &[("DEMO", "maybe")]);
    assert!(line.contains("demo.enabled"), "{line}");
}

#[test]
fn lease_shorter_than_two_heartbeats_is_refused() {
    let line = error_line(
        None,
        &[
            ("EXECUTOR_HEARTBEAT_SECS", "30"),
            ("EXECUTOR_LEASE_SECS", "45"),
        ],
    );
    assert!(
        line.contains("executor.lease_secs") && line.contains("twice"),
        "{line}"
    );
}

#[test]
fn typos_and_syntax_errors_in_the_file_are_caught() {
    let line = error_line(Some("[executor]\nslot = 3\n"), &[]);
    assert!(line.contains("unknown setting executor.slot"), "{line}");
    let line = error_line(Some("[executor\nslots = 3\n"), &[]);
    assert!(
        line.contains("not valid TOML") && line.contains("line 1"),
        "{line}"
    );
}

#[test]
fn a_named_config_file_must_exist() {
    let lookup = |_: &str| None;
    let err = Sources::load(Some(Path::new("/nonexistent/app.toml")), true, &lookup)
        .err()
        .unwrap();
    assert!(err
        .to_string()
        .contains("cannot read config file /nonexistent/app.toml"));
}

#[test]
fn the_secret_key_is_checked_and_never_echoed() {
    assert!(settings(None, &[]).unwrap().secret_key.is_none());
    let key = crate::sealing::Sealer::generate_key();
    assert!(settings(None, &[("SECRET_KEY", &key)])
        .unwrap()
        .secret_key
        .is_some());
    let line = error_line(None, &[("SECRET_KEY", "segredo-curto-demais")]);
    assert!(line.contains("security.secret_key"), "{line}");
    assert!(line.contains("32 bytes in base64"), "{line}");
    assert!(!line.contains("segredo-curto-demais"), "{line}");
}

#[test]
fn demo_and_sgp_retry_settings() {
    let s = settings(None, &[]).unwrap();
    assert_eq!((s.demo_sgp.customers, s.sgp.retries), (3000, 5));
    let s = settings(
        Some("[demo]\ncustomers = 50\nsgp_latency_ms = 0\n[sgp]\nretries = 0\n"),
        &[],
    )
    .unwrap();
    assert_eq!(s.demo_sgp.customers, 50);
    assert!(s.demo_sgp.latency.is_zero());
    assert_eq!(s.sgp.retries, 0);
    assert!(error_line(None, &[("DEMO_CUSTOMERS", "0")]).contains("demo.customers"));
}

#[test]
fn development_builds_without_a_key_run_the_demo_and_release_builds_do_not() {
    assert!(demo_default(true, false), "debug build, no key: the demo");
    assert!(
        !demo_default(true, true),
        "debug build with a key: for real"
    );
    assert!(
        !demo_default(false, false),
        "release build: never by default"
    );
    assert!(!demo_default(false, true));
    // in this (debug) test build: no key and no DEMO means the demo, said so
    let s = settings(None, &[]).unwrap();
    assert_eq!(
        (s.demo, s.demo_by_default),
        (cfg!(debug_assertions), cfg!(debug_assertions))
    );
    // DEMO=false is obeyed; a key turns the default off
    let s = settings(None, &[("DEMO", "false")]).unwrap();
    assert!(!s.demo && !s.demo_by_default);
    let key = crate::sealing::Sealer::generate_key();
    let s = settings(None, &[("SECRET_KEY", key.as_str())]).unwrap();
    assert!(!s.demo);
    let s = settings(None, &[("DEMO", "true")]).unwrap();
    assert!(s.demo && !s.demo_by_default, "asked for, not a default");
}
