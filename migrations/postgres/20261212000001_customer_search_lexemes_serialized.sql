-- The lexeme counts of a provider change one transaction at a time.
--
-- Every instance's search indexer refreshes every marked provider, so two
-- refreshes of one provider run together by design (they repeat work, and
-- the rows they write are the same). Each statement of theirs changed the
-- counts once per trigger that it fired: an upsert of the word index fires
-- the update trigger and then the insert trigger, each locking its own
-- lexemes' rows in key order, but not both sets in one order. Two such
-- statements could each hold a count the other wanted next: PostgreSQL
-- then aborts one (a deadlock), which its refresh reports and the next
-- tick repeats. And a count brought to zero by two statements at once was
-- left as a row of zero, as each saw the other's decrement only after
-- deciding.
--
-- Now the trigger takes, before it changes anything, a transaction lock
-- of each provider whose rows changed (in order, for the cascade of
-- several providers' deletion): one provider's counts change in one
-- transaction at a time, which holds every count it changes until it
-- commits, and the next sees them committed. Other providers never wait.
-- The lock's first key, 0x5e72, is the class of these locks (the classes
-- of the two-key advisory locks: `store/postgres/accounts.rs` and
-- `jobs.rs`).
CREATE OR REPLACE FUNCTION customer_search_lexemes_count() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    tenants UUID[];
    lexemes TEXT[];
    deltas BIGINT[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM pg_advisory_xact_lock(x'5e72'::int, hashtext(t::text))
        FROM (SELECT DISTINCT tenant_id FROM added ORDER BY 1) AS p (t);
        SELECT array_agg(tenant_id), array_agg(lexeme), array_agg(n)
        INTO tenants, lexemes, deltas
        FROM (SELECT r.tenant_id, x.lexeme, count(*) AS n FROM added r,
                unnest(customer_search_lexemes_of(r.words, r.tags, r.status_words)) AS x (lexeme)
            GROUP BY 1, 2) d;
    ELSIF TG_OP = 'UPDATE' THEN
        -- (an update keeps a row's provider: the new versions name them all)
        PERFORM pg_advisory_xact_lock(x'5e72'::int, hashtext(t::text))
        FROM (SELECT tenant_id FROM added UNION SELECT tenant_id FROM removed ORDER BY 1)
            AS p (t);
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
        PERFORM pg_advisory_xact_lock(x'5e72'::int, hashtext(t::text))
        FROM (SELECT DISTINCT tenant_id FROM removed ORDER BY 1) AS p (t);
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
