-- Each indexed customer's contract statuses and removed mark, searched
-- together with the name's words (the SQLite migration of the same name
-- says why).
--
-- `tags` holds a token per distinct contract status, '_' and the status
-- ("_ativo _cancelado"), and `_removido` when SGP no longer has the
-- customer, taken as lexemes verbatim (`array_to_tsvector`): no typed
-- word, folded to [a-z0-9], starts one, so a name's prefix query never
-- matches a tag. The refresh fills it with the name
-- (`store/postgres/search.rs`, which repeats the index's expression), and
-- a removal marks the provider for it.
ALTER TABLE customer_search ADD COLUMN tags TEXT NOT NULL DEFAULT '';

-- Dropped before the rows are rewritten, and built once after.
DROP INDEX customer_search_words;
UPDATE customer_search s SET tags = trim(coalesce((
    SELECT string_agg(DISTINCT '_' || k.status, ' ' ORDER BY '_' || k.status)
    FROM contracts k WHERE k.customer_id = s.customer_id), '')
    || CASE WHEN EXISTS (SELECT 1 FROM customers c WHERE c.id = s.customer_id
        AND c.removed_at IS NOT NULL) THEN ' _removido' ELSE '' END);
CREATE INDEX customer_search_words ON customer_search USING gin (
    (to_tsvector('simple', words) || array_to_tsvector(string_to_array(tags, ' '))));

-- The lexemes of the word index, which a typed word is looked up as when it
-- starts few of them: GIN gathers every lexeme a prefix starts into one
-- bitmap before the query runs ("silva" with `cancelado` at 1,000,000: 21
-- ms as a prefix, 10 as the one lexeme). Kept by the refresh; a lexeme no
-- name has any more stays, and only finds nothing.
CREATE TABLE customer_search_terms (
    term TEXT COLLATE "C" PRIMARY KEY
);
INSERT INTO customer_search_terms (term)
    SELECT DISTINCT t.lexeme FROM customer_search, unnest(to_tsvector('simple', words)) AS t;
