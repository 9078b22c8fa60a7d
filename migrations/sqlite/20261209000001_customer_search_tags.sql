-- Each indexed customer's contract statuses and removed mark, searched
-- together with the name's words. Two filters that each match many
-- customers but few together (a surname and `cancelado`: 65,000 and
-- 100,000 of 1,000,000, 6,000 together) were found by checking each of
-- one filter's matches for the other: 250 to 750 ms. In one word index,
-- FTS5 intersects the lists itself.
--
-- `tags` holds a token per distinct contract status, '_' and the status
-- ("_ativo _cancelado"), and `_removido` when SGP no longer has the
-- customer: tokens no typed word can start (typed words are folded to
-- [a-z0-9]), so a name search never matches one. The refresh fills it with
-- the name (`store/sqlite/search.rs`), and a removal marks the provider
-- for it.
ALTER TABLE customer_search ADD COLUMN tags TEXT NOT NULL DEFAULT '';

-- The word index becomes contentless, its text the words and then the
-- tags (an external-content table's columns must be the content table's
-- own); '_' joins a tag's token instead of splitting it.
DROP TRIGGER customer_search_words_insert;
DROP TRIGGER customer_search_words_delete;
DROP TRIGGER customer_search_words_update;
DROP TABLE customer_search_words;

-- Filled before the word index and its triggers exist: each row is then
-- indexed once, with its tags.
UPDATE customer_search SET tags = trim(coalesce((
    SELECT group_concat(s, ' ') FROM (
        SELECT DISTINCT '_' || k.status AS s FROM contracts k
        WHERE k.customer_id = customer_search.customer_id ORDER BY s)), '')
    || CASE WHEN EXISTS (SELECT 1 FROM customers c WHERE c.id = customer_search.customer_id
        AND c.removed_at IS NOT NULL) THEN ' _removido' ELSE '' END);

CREATE VIRTUAL TABLE customer_search_words USING fts5(
    terms, content = '', detail = 'none', prefix = '2 3',
    tokenize = "unicode61 tokenchars '_'"
);
INSERT INTO customer_search_words (rowid, terms)
    SELECT customer_id, words || ' ' || tags FROM customer_search;

-- A contentless table's delete must repeat the text inserted.
CREATE TRIGGER customer_search_words_insert AFTER INSERT ON customer_search BEGIN
    INSERT INTO customer_search_words (rowid, terms)
        VALUES (new.customer_id, new.words || ' ' || new.tags);
END;
CREATE TRIGGER customer_search_words_delete AFTER DELETE ON customer_search BEGIN
    INSERT INTO customer_search_words (customer_search_words, rowid, terms)
        VALUES ('delete', old.customer_id, old.words || ' ' || old.tags);
END;
CREATE TRIGGER customer_search_words_update AFTER UPDATE OF words, tags ON customer_search
BEGIN
    INSERT INTO customer_search_words (customer_search_words, rowid, terms)
        VALUES ('delete', old.customer_id, old.words || ' ' || old.tags);
    INSERT INTO customer_search_words (rowid, terms)
        VALUES (new.customer_id, new.words || ' ' || new.tags);
END;

-- The whole words of the word index, which a typed word of more than three
-- letters is looked up as when it starts few of them: FTS5 finds a longer
-- prefix by merging every word that starts it before the query runs (14
-- ms for "alves" at 1,000,000, 3 ms as the one word it starts).
CREATE VIRTUAL TABLE customer_search_terms USING fts5vocab(customer_search_words, 'row');
