-- What each import changed (PostgreSQL form).
--
-- Customers and contracts a complete import did not see are marked
-- removed, never deleted; one that comes back is unmarked.
ALTER TABLE customers ADD COLUMN removed_at TIMESTAMPTZ;
ALTER TABLE contracts ADD COLUMN removed_at TIMESTAMPTZ;

-- The keys a complete import saw, one row per stored page, written in the
-- page's transaction (so a resumed import still knows the pages before the
-- crash). Read once when the import ends, then deleted; kept only while a
-- held removal waits for the admin's confirmation. Goes with its job (and
-- the provider's jobs with the provider).
CREATE TABLE import_seen (
    job_id         UUID NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    page_offset    BIGINT NOT NULL,
    tenant_id      UUID NOT NULL,
    customer_keys  TEXT[] NOT NULL,
    contract_keys  TEXT[] NOT NULL,
    PRIMARY KEY (job_id, page_offset)
);

-- One row per change an import made to a customer, typed by `kind` (the
-- REST API's `tipo`). Goes with its job (retention, and the provider's
-- removal, which takes its jobs); customers are never deleted on their
-- own, so `customer_id` needs no foreign-key check on every insert.
CREATE TABLE import_changes (
    id            BIGSERIAL PRIMARY KEY,
    tenant_id     UUID NOT NULL,
    job_id        UUID NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    customer_id   BIGINT NOT NULL,
    kind          TEXT NOT NULL,
    contract_key  TEXT,
    old_value     TEXT,
    new_value     TEXT,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX import_changes_job ON import_changes (job_id, kind, id);
CREATE INDEX import_changes_customer ON import_changes (customer_id, id);
