-- The whole product's schema (SQLite form of migrations/postgres).
-- Types: UUIDs are 16-byte BLOBs, times are INTEGER Unix milliseconds (UTC),
-- dates are TEXT 'YYYY-MM-DD', JSON is TEXT. Tables are STRICT so a wrong
-- type is an error instead of a silent conversion.

CREATE TABLE tenants (
    id          BLOB PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE users (
    id             BLOB PRIMARY KEY,
    tenant_id      BLOB REFERENCES tenants (id) ON DELETE CASCADE,
    email          TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('superadmin', 'admin')),
    disabled_at    INTEGER,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    CHECK ((role = 'superadmin') = (tenant_id IS NULL))
) STRICT;
CREATE INDEX users_tenant ON users (tenant_id);

CREATE TABLE sessions (
    token_hash        TEXT PRIMARY KEY,
    user_id           BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id         BLOB REFERENCES tenants (id) ON DELETE SET NULL,
    created_at        INTEGER NOT NULL,
    last_seen_at      INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    ip                TEXT,
    user_agent        TEXT
) STRICT;
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE api_tokens (
    id            BLOB PRIMARY KEY,
    tenant_id     BLOB REFERENCES tenants (id) ON DELETE CASCADE,
    user_id       BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    revoked_at    INTEGER
) STRICT;
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE login_failures (
    id          INTEGER PRIMARY KEY,
    email       TEXT NOT NULL,
    ip          TEXT NOT NULL,
    failed_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX login_failures_email ON login_failures (email, failed_at);
CREATE INDEX login_failures_ip ON login_failures (ip, failed_at);

CREATE TABLE sgp_integrations (
    tenant_id             BLOB PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    base_url              TEXT NOT NULL,
    auth_mode             TEXT NOT NULL CHECK (auth_mode IN ('token', 'basic')),
    app_name              TEXT,
    token_encrypted       BLOB,
    token_hint            TEXT,
    username              TEXT,
    password_encrypted    BLOB,
    password_hint         TEXT,
    last_tested_at        INTEGER,
    last_test_ok          INTEGER,
    last_test_message     TEXT,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    CHECK (auth_mode <> 'token' OR (app_name IS NOT NULL AND token_encrypted IS NOT NULL)),
    CHECK (auth_mode <> 'basic' OR (username IS NOT NULL AND password_encrypted IS NOT NULL))
) STRICT;

CREATE TABLE jobs (
    id                   BLOB PRIMARY KEY,
    tenant_id            BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind                 TEXT NOT NULL,
    name                 TEXT NOT NULL,
    params               TEXT NOT NULL DEFAULT '{}',
    status               TEXT NOT NULL CHECK (status IN
                           ('queued', 'running', 'retrying', 'cancelling',
                            'completed', 'failed', 'cancelled')),
    attempt              INTEGER NOT NULL DEFAULT 0,
    max_attempts         INTEGER NOT NULL DEFAULT 5 CHECK (max_attempts >= 1),
    run_after            INTEGER NOT NULL,
    lease_owner          TEXT,
    lease_expires_at     INTEGER,
    heartbeat_at         INTEGER,
    cancel_requested_at  INTEGER,
    total_estimated      INTEGER,
    processed            INTEGER NOT NULL DEFAULT 0,
    created_count        INTEGER NOT NULL DEFAULT 0,
    updated_count        INTEGER NOT NULL DEFAULT 0,
    unchanged_count      INTEGER NOT NULL DEFAULT 0,
    failed_count         INTEGER NOT NULL DEFAULT 0,
    percent              REAL NOT NULL DEFAULT 0,
    eta_seconds          INTEGER,
    current_message      TEXT,
    checkpoint           TEXT,
    result               TEXT,
    last_error           TEXT,
    log_count            INTEGER NOT NULL DEFAULT 0,
    created_by           BLOB REFERENCES users (id) ON DELETE SET NULL,
    created_at           INTEGER NOT NULL,
    started_at           INTEGER,
    finished_at          INTEGER,
    updated_at           INTEGER NOT NULL
) STRICT;
CREATE INDEX jobs_runnable ON jobs (run_after, created_at)
    WHERE status IN ('queued', 'retrying');
CREATE INDEX jobs_leases ON jobs (lease_expires_at)
    WHERE status IN ('running', 'cancelling');
CREATE INDEX jobs_tenant_status ON jobs (tenant_id, status, created_at DESC, id);
CREATE INDEX jobs_tenant_created ON jobs (tenant_id, created_at DESC, id);
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE job_logs (
    id          INTEGER PRIMARY KEY,
    job_id      BLOB NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    tenant_id   BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    logged_at   INTEGER NOT NULL,
    level       TEXT NOT NULL CHECK (level IN ('debug', 'info', 'warn', 'error')),
    message     TEXT NOT NULL
) STRICT;
CREATE INDEX job_logs_job ON job_logs (job_id, id);

CREATE TABLE customers (
    id               INTEGER PRIMARY KEY,
    tenant_id        BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    sgp_key          TEXT NOT NULL,
    sgp_id           INTEGER,
    name             TEXT NOT NULL,
    cpf_cnpj         TEXT,
    person_type      TEXT,
    signup_date      TEXT,
    notes            TEXT,
    street           TEXT,
    number           TEXT,
    complement       TEXT,
    district         TEXT,
    city             TEXT,
    state            TEXT,
    zip              TEXT,
    latitude         TEXT,
    longitude        TEXT,
    emails           TEXT NOT NULL DEFAULT '[]',
    phones           TEXT NOT NULL DEFAULT '[]',
    content_hash     TEXT NOT NULL,
    last_job_id      BLOB REFERENCES jobs (id) ON DELETE SET NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (tenant_id, sgp_key)
) STRICT;
CREATE INDEX customers_tenant_name ON customers (tenant_id, name);
CREATE INDEX customers_tenant_doc ON customers (tenant_id, cpf_cnpj);

CREATE TABLE contracts (
    id               INTEGER PRIMARY KEY,
    tenant_id        BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    customer_id      INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    sgp_key          TEXT NOT NULL,
    status           TEXT NOT NULL,
    status_raw       TEXT,
    signup_date      TEXT,
    services         TEXT NOT NULL DEFAULT '[]',
    content_hash     TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (tenant_id, sgp_key)
) STRICT;
CREATE INDEX contracts_customer ON contracts (customer_id);
CREATE INDEX contracts_tenant_status ON contracts (tenant_id, status);

CREATE TABLE import_row_errors (
    id           INTEGER PRIMARY KEY,
    tenant_id    BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    job_id       BLOB NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    row_key      TEXT,
    reason       TEXT NOT NULL,
    page_offset  INTEGER,
    created_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX import_row_errors_job ON import_row_errors (job_id, id);
