-- The whole product's schema. Every business row carries tenant_id, and
-- every lookup an admin can make starts from it.

CREATE TABLE tenants (
    id          UUID PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

-- A superadmin belongs to no tenant; a provider admin to exactly one.
CREATE TABLE users (
    id             UUID PRIMARY KEY,
    tenant_id      UUID REFERENCES tenants (id) ON DELETE CASCADE,
    email          TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('superadmin', 'admin')),
    disabled_at    TIMESTAMPTZ,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    CHECK ((role = 'superadmin') = (tenant_id IS NULL))
);
CREATE INDEX users_tenant ON users (tenant_id);

-- The cookie holds a random token; only its hash is stored.
CREATE TABLE sessions (
    token_hash        TEXT PRIMARY KEY,
    user_id           UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- the provider the session acts on (a superadmin picks one)
    tenant_id         UUID REFERENCES tenants (id) ON DELETE SET NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    last_seen_at      TIMESTAMPTZ NOT NULL,
    expires_at        TIMESTAMPTZ NOT NULL,
    ip                TEXT,
    user_agent        TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- Per-user tokens for scripts (Authorization: Bearer).
CREATE TABLE api_tokens (
    id            UUID PRIMARY KEY,
    tenant_id     UUID REFERENCES tenants (id) ON DELETE CASCADE,
    user_id       UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    created_at    TIMESTAMPTZ NOT NULL,
    last_used_at  TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- Failed logins, per account and per address, for throttling.
CREATE TABLE login_failures (
    id          BIGSERIAL PRIMARY KEY,
    email       TEXT NOT NULL,
    ip          TEXT NOT NULL,
    failed_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX login_failures_email ON login_failures (email, failed_at);
CREATE INDEX login_failures_ip ON login_failures (ip, failed_at);

-- One SGP connection per provider. Secrets are stored only encrypted
-- (AEAD: nonce || ciphertext); *_hint keeps the last characters for masking.
CREATE TABLE sgp_integrations (
    tenant_id             UUID PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    base_url              TEXT NOT NULL,
    auth_mode             TEXT NOT NULL CHECK (auth_mode IN ('token', 'basic')),
    app_name              TEXT,
    token_encrypted       BYTEA,
    token_hint            TEXT,
    username              TEXT,
    password_encrypted    BYTEA,
    password_hint         TEXT,
    last_tested_at        TIMESTAMPTZ,
    last_test_ok          BOOLEAN,
    last_test_message     TEXT,
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL,
    CHECK (auth_mode <> 'token' OR (app_name IS NOT NULL AND token_encrypted IS NOT NULL)),
    CHECK (auth_mode <> 'basic' OR (username IS NOT NULL AND password_encrypted IS NOT NULL))
);

-- Background jobs of every kind (imports first). Parameters never hold a
-- secret: the job reads the provider's integration when it runs.
CREATE TABLE jobs (
    id                   UUID PRIMARY KEY,
    tenant_id            UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind                 TEXT NOT NULL,
    name                 TEXT NOT NULL,
    params               JSONB NOT NULL DEFAULT '{}'::jsonb,
    status               TEXT NOT NULL CHECK (status IN
                           ('queued', 'running', 'retrying', 'cancelling',
                            'completed', 'failed', 'cancelled')),
    attempt              INTEGER NOT NULL DEFAULT 0,
    max_attempts         INTEGER NOT NULL DEFAULT 5 CHECK (max_attempts >= 1),
    run_after            TIMESTAMPTZ NOT NULL,
    lease_owner          TEXT,
    lease_expires_at     TIMESTAMPTZ,
    heartbeat_at         TIMESTAMPTZ,
    cancel_requested_at  TIMESTAMPTZ,
    total_estimated      BIGINT,
    processed            BIGINT NOT NULL DEFAULT 0,
    created_count        BIGINT NOT NULL DEFAULT 0,
    updated_count        BIGINT NOT NULL DEFAULT 0,
    unchanged_count      BIGINT NOT NULL DEFAULT 0,
    failed_count         BIGINT NOT NULL DEFAULT 0,
    percent              REAL NOT NULL DEFAULT 0,
    eta_seconds          BIGINT,
    current_message      TEXT,
    checkpoint           JSONB,
    result               JSONB,
    last_error           TEXT,
    log_count            INTEGER NOT NULL DEFAULT 0,
    created_by           UUID REFERENCES users (id) ON DELETE SET NULL,
    created_at           TIMESTAMPTZ NOT NULL,
    started_at           TIMESTAMPTZ,
    finished_at          TIMESTAMPTZ,
    updated_at           TIMESTAMPTZ NOT NULL
);
-- claiming: runnable jobs in order
CREATE INDEX jobs_runnable ON jobs (run_after, created_at)
    WHERE status IN ('queued', 'retrying');
-- rescuing: expired leases
CREATE INDEX jobs_leases ON jobs (lease_expires_at)
    WHERE status IN ('running', 'cancelling');
-- the dashboard: one provider's jobs, per tab, newest first
CREATE INDEX jobs_tenant_status ON jobs (tenant_id, status, created_at DESC, id);
CREATE INDEX jobs_tenant_created ON jobs (tenant_id, created_at DESC, id);
-- retention purge
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE job_logs (
    id          BIGSERIAL PRIMARY KEY,
    job_id      UUID NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    tenant_id   UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    logged_at   TIMESTAMPTZ NOT NULL,
    level       TEXT NOT NULL CHECK (level IN ('debug', 'info', 'warn', 'error')),
    message     TEXT NOT NULL
);
CREATE INDEX job_logs_job ON job_logs (job_id, id);

-- Imported customers, keyed by the provider and SGP's key (the SGP id, or
-- the CPF/CNPJ digits when SGP sends none).
CREATE TABLE customers (
    id               BIGSERIAL PRIMARY KEY,
    tenant_id        UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    sgp_key          TEXT NOT NULL,
    sgp_id           BIGINT,
    name             TEXT NOT NULL,
    cpf_cnpj         TEXT,
    person_type      TEXT,
    signup_date      DATE,
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
    emails           JSONB NOT NULL DEFAULT '[]'::jsonb,
    phones           JSONB NOT NULL DEFAULT '[]'::jsonb,
    -- hash of the mapped fields: an unchanged re-import writes nothing
    content_hash     TEXT NOT NULL,
    last_job_id      UUID REFERENCES jobs (id) ON DELETE SET NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant_id, sgp_key)
);
CREATE INDEX customers_tenant_name ON customers (tenant_id, name);
CREATE INDEX customers_tenant_doc ON customers (tenant_id, cpf_cnpj);

CREATE TABLE contracts (
    id               BIGSERIAL PRIMARY KEY,
    tenant_id        UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    customer_id      BIGINT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    sgp_key          TEXT NOT NULL,
    status           TEXT NOT NULL,
    status_raw       TEXT,
    signup_date      DATE,
    services         JSONB NOT NULL DEFAULT '[]'::jsonb,
    content_hash     TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant_id, sgp_key)
);
CREATE INDEX contracts_customer ON contracts (customer_id);
CREATE INDEX contracts_tenant_status ON contracts (tenant_id, status);

-- Rows an import could not take, for the admin's error report.
CREATE TABLE import_row_errors (
    id           BIGSERIAL PRIMARY KEY,
    tenant_id    UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    job_id       UUID NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    row_key      TEXT,
    reason       TEXT NOT NULL,
    page_offset  BIGINT,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX import_row_errors_job ON import_row_errors (job_id, id);
