-- Customer search at a large provider's size (SQLite form).
--
-- The customers page must answer in tens of milliseconds over a million
-- customers, but indexes on customers' names slow every import page (each
-- page's rows land in random leaves of a name index). So the search has
-- its own table, filled off the import's path: an import page marks its
-- provider in customer_search_state, and the search indexer copies the
-- provider's customers changed since its last refresh once no import of the
-- provider is running. The page shows when that was. Providers of up to
-- 2,000 customers are searched straight from customers, always current.
CREATE TABLE customer_search (
    customer_id  INTEGER PRIMARY KEY,
    tenant_id    BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- the name as shown, for the page's order
    name         TEXT NOT NULL,
    -- the name folded for search: lower case, no accents, words split by
    -- one space (text::search_words)
    words        TEXT NOT NULL,
    -- the CPF/CNPJ digits
    doc          TEXT
) STRICT;
-- the page's order; with the words, so a walk filtering on them reads
-- the index alone
CREATE INDEX customer_search_name ON customer_search (tenant_id, name, customer_id, words);
CREATE INDEX customer_search_doc ON customer_search (tenant_id, doc) WHERE doc IS NOT NULL;

-- The words, for searches whose matches are few among many customers: an
-- external-content FTS5 index (the text lives in customer_search), kept by
-- the triggers below. No positions (detail=none): a search asks for words
-- that start with what was typed, in any order, never for a phrase.
CREATE VIRTUAL TABLE customer_search_words USING fts5(
    words, content = 'customer_search', content_rowid = 'customer_id',
    detail = 'none', prefix = '2 3'
);
CREATE TRIGGER customer_search_words_insert AFTER INSERT ON customer_search BEGIN
    INSERT INTO customer_search_words (rowid, words) VALUES (new.customer_id, new.words);
END;
CREATE TRIGGER customer_search_words_delete AFTER DELETE ON customer_search BEGIN
    INSERT INTO customer_search_words (customer_search_words, rowid, words)
        VALUES ('delete', old.customer_id, old.words);
END;
CREATE TRIGGER customer_search_words_update AFTER UPDATE OF words ON customer_search BEGIN
    INSERT INTO customer_search_words (customer_search_words, rowid, words)
        VALUES ('delete', old.customer_id, old.words);
    INSERT INTO customer_search_words (rowid, words) VALUES (new.customer_id, new.words);
END;

-- Per provider: `dirty_at` is set by every import page that wrote customers
-- and cleared by the refresh that saw it; a refresh (re)copies the
-- customers updated at or after `through`; `refreshed_at` is what the
-- page shows; `indexed` is the provider's rows in customer_search then.
CREATE TABLE customer_search_state (
    tenant_id     BLOB PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    dirty_at      INTEGER,
    through       INTEGER NOT NULL DEFAULT 0,
    refreshed_at  INTEGER,
    indexed       INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX customer_search_dirty ON customer_search_state (dirty_at)
    WHERE dirty_at IS NOT NULL;

-- The removed filter reads customers themselves (the sweep that marks them
-- is not an import page); only marked rows are in this index.
CREATE INDEX customers_removed ON customers (tenant_id, id) WHERE removed_at IS NOT NULL;

-- Providers that already have customers are indexed from the start.
INSERT INTO customer_search_state (tenant_id, dirty_at, through)
    SELECT DISTINCT tenant_id, 0, 0 FROM customers;
