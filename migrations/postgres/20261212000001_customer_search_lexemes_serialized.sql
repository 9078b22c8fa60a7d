-- The lexeme counts of a provider change one writing transaction at a
-- time.
--
-- Every instance's search indexer refreshes every marked provider, so two
-- refreshes of one provider run together by design (they repeat work, and
-- the rows they write are the same). Each statement of theirs changed the
-- counts once per trigger that it fired: an upsert of the word index fires
-- the update trigger and then the insert trigger, each locking its own
-- lexemes' rows in key order, but not both sets in one order. Two such
-- statements could each hold a count the other wanted next: PostgreSQL
-- then aborted one (a deadlock), which its refresh reported and the next
-- tick repeated. And a count brought to zero by two statements at once was
-- left as a row of zero, as each saw the other's decrement only after
-- deciding.
--
-- Now the one function that changes counts first takes a transaction lock
-- of each provider whose counts it changes (class 0x5e72 of the two-key
-- advisory locks; the others: `store/postgres/accounts.rs` and `jobs.rs`),
-- in the order of their keys: a transaction that changes a provider's
-- counts holds them all until it commits, the next one waits for it and
-- then sees them committed (its statement after the lock reads anew), and
-- other providers never wait. The triggers run at the end of their
-- statement, after the statement's row locks: writers of `customer_search`
-- write it one statement a transaction (the refresh, a provider's
-- deletion), as a transaction that went on to another provider's rows
-- while holding this lock could deadlock with one waiting for it.
CREATE OR REPLACE FUNCTION customer_search_lexemes_change(tenants UUID[], lexemes TEXT[], deltas BIGINT[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    k INT;
BEGIN
    FOR k IN SELECT DISTINCT hashtext(t::text) FROM unnest(tenants) AS t ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock(x'5e72'::int, k);
    END LOOP;
    -- (as in `20261211000001_customer_search_lexemes.sql`)
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
    ON CONFLICT (tenant_id, lexeme) DO UPDATE SET customers = c.customers + excluded.customers;
END
$$;

-- A TRUNCATE fires no row-changing trigger: the counts go with the rows.
CREATE FUNCTION customer_search_lexemes_clear() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM customer_search_lexemes;
    RETURN NULL;
END
$$;
CREATE TRIGGER customer_search_lexemes_truncated AFTER TRUNCATE ON customer_search
    FOR EACH STATEMENT EXECUTE FUNCTION customer_search_lexemes_clear();
