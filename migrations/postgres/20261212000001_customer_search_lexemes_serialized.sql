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
-- Now the trigger takes, before it changes anything, a transaction lock
-- of each provider whose rows changed (class 0x5e72 of the two-key
-- advisory locks; the others: `store/postgres/accounts.rs` and `jobs.rs`),
-- in the order of their keys: a transaction that changes a provider's
-- counts holds them all until it commits, the next one waits for it and
-- then sees them committed, and other providers never wait. The trigger
-- runs at the end of its statement, after the statement's row locks:
-- writers of `customer_search` write it one statement a transaction (the
-- refresh, a provider's deletion), as a transaction that went on to
-- another provider's rows while holding this lock could deadlock with one
-- waiting for it.

-- Takes the lexeme lock of each provider in `tenants`, in key order.
CREATE FUNCTION customer_search_lexemes_lock(tenants UUID[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    k INT;
BEGIN
    FOR k IN SELECT DISTINCT hashtext(t::text) FROM unnest(tenants) AS t ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock(x'5e72'::int, k);
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION customer_search_lexemes_count() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    tenants UUID[];
    lexemes TEXT[];
    deltas BIGINT[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM customer_search_lexemes_lock(ARRAY(SELECT DISTINCT tenant_id FROM added));
        SELECT array_agg(tenant_id), array_agg(lexeme), array_agg(n)
        INTO tenants, lexemes, deltas
        FROM (SELECT r.tenant_id, x.lexeme, count(*) AS n FROM added r,
                unnest(customer_search_lexemes_of(r.words, r.tags, r.status_words)) AS x (lexeme)
            GROUP BY 1, 2) d;
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM customer_search_lexemes_lock(ARRAY(
            SELECT tenant_id FROM added UNION SELECT tenant_id FROM removed));
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
        PERFORM customer_search_lexemes_lock(ARRAY(SELECT DISTINCT tenant_id FROM removed));
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

-- (unchanged but for what it says: under the lock above, the counts it
-- reads are every earlier transaction's, so a count that reaches zero is
-- deleted)
COMMENT ON FUNCTION customer_search_lexemes_change(UUID[], TEXT[], BIGINT[]) IS
    'Adds deltas to the counts of (tenants, lexemes), deleting a count that reaches zero; '
    'its caller holds the providers'' lexeme lock (class 0x5e72).';

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
