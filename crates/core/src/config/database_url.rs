use std::fmt;
use std::path::Path;

/// Which database to use, known to be of a supported kind. `Display` hides
/// any password so the value can go into logs and error messages.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// An SQLite file (`sqlite:path` or `sqlite://path`), created on first use.
    Sqlite(String),
    /// A PostgreSQL server (`postgres://` or `postgresql://`).
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if let Some(rest) = raw.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//");
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() {
                return Err("an SQLite URL needs a file path, as in sqlite:data/app.db".into());
            }
            return Ok(DatabaseUrl::Sqlite(raw.to_owned()));
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            let url =
                url::Url::parse(raw).map_err(|e| format!("not a valid PostgreSQL URL ({e})"))?;
            if url.host_str().unwrap_or_default().is_empty() {
                return Err(
                    "a PostgreSQL URL needs a host, as in postgres://user@localhost/db".into(),
                );
            }
            return Ok(DatabaseUrl::Postgres(raw.to_owned()));
        }
        let scheme = raw.split(':').next().unwrap_or_default();
        Err(format!(
            "unsupported database {scheme:?}; use sqlite:PATH or postgres://USER:PASSWORD@HOST/DB"
        ))
    }

    /// The default: an SQLite file inside the data directory.
    pub fn sqlite_in(data_dir: &Path) -> Result<Self, String> {
        let path = data_dir.join("sgp-import.db");
        let path = path
            .to_str()
            .ok_or_else(|| format!("data directory {} is not valid UTF-8", data_dir.display()))?;
        Ok(DatabaseUrl::Sqlite(format!("sqlite://{path}")))
    }

    /// The URL with its password, for connecting; never log it.
    pub fn expose(&self) -> &str {
        match self {
            DatabaseUrl::Sqlite(u) | DatabaseUrl::Postgres(u) => u,
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            DatabaseUrl::Sqlite(_) => "sqlite",
            DatabaseUrl::Postgres(_) => "postgres",
        }
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite(u) => f.write_str(u),
            DatabaseUrl::Postgres(u) => match url::Url::parse(u) {
                Ok(url) => f.write_str(masked(url).as_str()),
                // unparseable here means it never connected either; say
                // nothing of what it holds
                Err(_) => f.write_str("postgres://(URL inválida)"),
            },
        }
    }
}

/// The URL with every password masked: in the user part
/// (`postgres://u:pw@h`) and in the query (`?password=pw`,
/// `?sslpassword=pw`), which libpq and sqlx both accept.
fn masked(mut url: url::Url) -> url::Url {
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    let secret =
        |key: &str| key.eq_ignore_ascii_case("password") || key.eq_ignore_ascii_case("sslpassword");
    if url.query_pairs().any(|(k, _)| secret(&k)) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret(&k) {
                    "***".to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}
