-- Customer search at a large provider's size (PostgreSQL form; the SQLite
-- migration of the same name says why it is a table of its own, filled
-- off the import's path). Its name and CPF/CNPJ indexes replace the two on
-- customers, which every import page paid for.
CREATE TABLE customer_search (
    customer_id  BIGINT PRIMARY KEY,
    tenant_id    UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- byte order, as on SQLite and in the small providers' in-memory sort
    name         TEXT COLLATE "C" NOT NULL,
    words        TEXT NOT NULL,
    doc          TEXT COLLATE "C"
);
CREATE INDEX customer_search_name ON customer_search (tenant_id, name, customer_id)
    INCLUDE (words);
CREATE INDEX customer_search_doc ON customer_search (tenant_id, doc) WHERE doc IS NOT NULL;
-- the words as full-text lexemes ('simple': no stemming, the words are
-- already folded), for prefix queries (`maria:* & sil:*`)
CREATE INDEX customer_search_words ON customer_search
    USING gin (to_tsvector('simple', words));

CREATE TABLE customer_search_state (
    tenant_id     UUID PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    dirty_at      TIMESTAMPTZ,
    -- NULL: from the first customer
    through       TIMESTAMPTZ,
    refreshed_at  TIMESTAMPTZ,
    indexed       BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX customer_search_dirty ON customer_search_state (dirty_at)
    WHERE dirty_at IS NOT NULL;

CREATE INDEX customers_removed ON customers (tenant_id, id) WHERE removed_at IS NOT NULL;
DROP INDEX customers_tenant_name;
DROP INDEX customers_tenant_doc;

INSERT INTO customer_search_state (tenant_id, dirty_at)
    SELECT DISTINCT tenant_id, now() FROM customers;
