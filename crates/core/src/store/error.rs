use crate::model::UnknownJobStatus;

/// What a lookup can fail to find.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entity {
    Job,
    Tenant,
    User,
    Session,
    ApiToken,
    Integration,
    NotificationTarget,
    Customer,
}

impl std::fmt::Display for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Entity::Job => "job",
            Entity::Tenant => "tenant",
            Entity::User => "user",
            Entity::Session => "session",
            Entity::ApiToken => "API token",
            Entity::Integration => "integration",
            Entity::NotificationTarget => "notification target",
            Entity::Customer => "customer",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or opened; `url` has no password.
    #[error("cannot open database {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The row asked for does not exist (for this tenant).
    #[error("{0} not found")]
    NotFound(Entity),
    /// A row with the same unique key exists already.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The caller no longer holds the job's current attempt (its lease
    /// expired and the job was rescued, cancelled, or claimed again).
    #[error("lease lost on job {0}")]
    LeaseLost(crate::model::JobId),
    /// The caller holds the attempt, but its job has been asked to stop:
    /// a step that may not run once a cancel is requested was refused.
    #[error("cancel requested on job {0}")]
    CancelRequested(crate::model::JobId),
    /// The transition is not allowed from the job's current status.
    #[error(transparent)]
    IllegalTransition(#[from] crate::model::IllegalTransition),
    /// The tenant already has this many jobs of the kind queued or running.
    #[error("{0} jobs already queued or running")]
    LimitReached(u32),
    /// The rule named (in Portuguese, for the admin) forbids it now.
    #[error("{0}")]
    NotAllowed(&'static str),
    /// A stored value that this code cannot read back (a bug or a manual edit).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether trying again later may succeed: the database could not be
    /// reached, the pool ran dry, or it refused for a passing reason
    /// (shutting down, a deadlock, a lock held too long). A lost lease, a
    /// refused transition or bad data will fail the same way again.
    pub fn is_transient(&self) -> bool {
        let StoreError::Database(e) = self else {
            return false;
        };
        match e {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => {
                let code = db.code().unwrap_or_default();
                // PostgreSQL: connection exceptions (08), serialisation
                // failure, deadlock, admin shutdown, cannot connect now,
                // too many connections; SQLite: busy or locked past the
                // busy timeout
                code.starts_with("08")
                    || matches!(
                        code.as_ref(),
                        // ...and a database not accepting connections
                        // for now, or a lock not available
                        "40001"
                            | "40P01"
                            | "57P01"
                            | "57P02"
                            | "57P03"
                            | "53300"
                            | "55000"
                            | "55P03"
                    )
                    || db.message().contains("database is locked")
                    || db.message().contains("database table is locked")
            }
            _ => false,
        }
    }
}

impl StoreError {
    /// Whether a unique key refused a row.
    pub(crate) fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::Database(db)) if db.is_unique_violation())
    }
}

impl From<UnknownJobStatus> for StoreError {
    fn from(e: UnknownJobStatus) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// `sqlx` puts the whole connection error chain in one message; keep the
/// innermost cause, which is what an operator can act on.
pub(crate) fn connect_reason(e: &sqlx::Error) -> String {
    let mut reason = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        reason = cause.to_string();
        source = cause.source();
    }
    reason.replace('\n', " ")
}

/// Maps a unique-key violation to [`StoreError::Conflict`].
pub(crate) fn conflict_on_unique(e: sqlx::Error, what: &'static str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
        _ => StoreError::Database(e),
    }
}
