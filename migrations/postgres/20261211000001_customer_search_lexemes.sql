-- How many of each provider's indexed customers hold each lexeme of the
-- word index, so that a search of one word (with a status or not) learns
-- "more than the cap" without reading the rows.
--
-- The GIN index `customer_search_words` gives row addresses of every
-- provider, and PostgreSQL 15 reads each row's page to check it (the
-- provider, and visibility: its current releases never skip a page the
-- visibility map marks all-visible in a bitmap scan). A surname with
-- `ativo` at 1,000,000 customers read 10,001 rows, some 3,000 pages, to
-- learn that it had more than 10,000: about 10 ms of the one search still
-- over its 50 ms target. A lexeme held by more customers than the cap is
-- a lower bound of any query that asks for it alone (`store/postgres/
-- search.rs`, `one_clause`), read here from one key.
--
-- Kept by triggers on `customer_search`, in the transaction that changes
-- its rows, so that a reader sees the counts of the rows it sees,
-- whatever writes them (this release's refresh, an instance of the
-- release before during an upgrade, the cascade of a provider's
-- deletion). No foreign key: a provider's deletion removes its rows here
-- through that cascade, as its counts reach zero.
CREATE TABLE customer_search_lexemes (
    tenant_id  UUID NOT NULL,
    -- byte order, for a prefix's range (as `customer_search_terms`)
    lexeme     TEXT COLLATE "C" NOT NULL,
    customers  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, lexeme)
);

-- The lexemes of one row as the index holds them: its expression's
-- (`20261210000001_customer_search_status_words.sql`), each once.
CREATE FUNCTION customer_search_lexemes_of(words TEXT, tags TEXT, status_words TEXT)
RETURNS TEXT[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT tsvector_to_array(to_tsvector('simple', words)
        || array_to_tsvector(string_to_array(tags, ' '))
        || array_to_tsvector(string_to_array(status_words, ' ')))
$$;

-- Adds `deltas` to the counts of (`tenants`, `lexemes`), in key order, so
-- that two statements changing the same counts wait for each other
-- rather than deadlock. A count that reaches zero is deleted (a renamed
-- word, a provider deleted).
CREATE FUNCTION customer_search_lexemes_change(tenants UUID[], lexemes TEXT[], deltas BIGINT[])
RETURNS void
LANGUAGE sql AS $$
    WITH d AS (
        SELECT * FROM unnest(tenants, lexemes, deltas) AS d (tenant_id, lexeme, n)
    ), gone AS (
        DELETE FROM customer_search_lexemes c USING d
        WHERE c.tenant_id = d.tenant_id AND c.lexeme = d.lexeme AND c.customers + d.n <= 0
        RETURNING c.tenant_id, c.lexeme
    )
    INSERT INTO customer_search_lexemes AS c (tenant_id, lexeme, customers)
    SELECT d.tenant_id, d.lexeme, d.n FROM d
    WHERE NOT EXISTS (SELECT 1 FROM gone g
        WHERE g.tenant_id = d.tenant_id AND g.lexeme = d.lexeme)
    ORDER BY 1, 2
    ON CONFLICT (tenant_id, lexeme) DO UPDATE SET customers = c.customers + excluded.customers
$$;

-- One statement's rows, as the counts they change: `added` the rows it
-- inserted and the new versions of those it updated, `removed` the old
-- versions and the rows it deleted (the transition tables of the trigger
-- that runs it). A row updated without a change of lexemes changes none.
CREATE FUNCTION customer_search_lexemes_count() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    tenants UUID[];
    lexemes TEXT[];
    deltas BIGINT[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(tenant_id), array_agg(lexeme), array_agg(n)
        INTO tenants, lexemes, deltas
        FROM (SELECT r.tenant_id, x.lexeme, count(*) AS n FROM added r,
                unnest(customer_search_lexemes_of(r.words, r.tags, r.status_words)) AS x (lexeme)
            GROUP BY 1, 2) d;
    ELSIF TG_OP = 'UPDATE' THEN
        SELECT array_agg(tenant_id), array_agg(lexeme), array_agg(n)
        INTO tenants, lexemes, deltas
        FROM (SELECT tenant_id, lexeme, sum(n) AS n FROM (
                SELECT r.tenant_id, x.lexeme, 1 AS n FROM added r,
                    unnest(customer_search_lexemes_of(r.words, r.tags, r.status_words))
                        AS x (lexeme)
                UNION ALL
                SELECT r.tenant_id, x.lexeme, -1 FROM removed r,
                    unnest(customer_search_lexemes_of(r.words, r.tags, r.status_words))
                        AS x (lexeme)
            ) e GROUP BY 1, 2 HAVING sum(n) <> 0) d;
    ELSE
        SELECT array_agg(tenant_id), array_agg(lexeme), array_agg(n)
        INTO tenants, lexemes, deltas
        FROM (SELECT r.tenant_id, x.lexeme, -count(*) AS n FROM removed r,
                unnest(customer_search_lexemes_of(r.words, r.tags, r.status_words)) AS x (lexeme)
            GROUP BY 1, 2) d;
    END IF;
    IF tenants IS NOT NULL THEN
        PERFORM customer_search_lexemes_change(tenants, lexemes, deltas);
    END IF;
    RETURN NULL;
END
$$;

-- (a trigger with transition tables has one event)
CREATE TRIGGER customer_search_lexemes_inserted AFTER INSERT ON customer_search
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION customer_search_lexemes_count();
CREATE TRIGGER customer_search_lexemes_updated AFTER UPDATE ON customer_search
    REFERENCING OLD TABLE AS removed NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION customer_search_lexemes_count();
CREATE TRIGGER customer_search_lexemes_deleted AFTER DELETE ON customer_search
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION customer_search_lexemes_count();

INSERT INTO customer_search_lexemes (tenant_id, lexeme, customers)
SELECT s.tenant_id, x.lexeme, count(*) FROM customer_search s,
    unnest(customer_search_lexemes_of(s.words, s.tags, s.status_words)) AS x (lexeme)
GROUP BY 1, 2;
