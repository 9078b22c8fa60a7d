-- A name's words with a contract status, as one lexeme each, so that a
-- name searched with a status is one posting list of the word index.
--
-- Until now "silva" with `ativo` intersected two lists: the word's (60,838
-- customers of 1,000,000) and the tag `_ativo`'s (799,000). GIN built
-- that intersection in 11-18 ms before a row was read, the most of the
-- one search still over its 50 ms target. `_ativo:silva` is one list, of
-- the 48,625 customers who have both, read from 13 index pages.
--
-- `status_words` holds, for each status tag of `tags` the word index is
-- asked for (`_` and [a-z_], see `Wanted::index_source`; not `_removido`)
-- and each lexeme of the words, the tag, ':' and the lexeme: "_ativo:ana
-- _ativo:souza". The lexemes are `to_tsvector`'s own, those the index
-- holds for the words. A search asks for these with their tag always
-- written out (whole, or as a prefix after it: `'_ativo:jo':*`,
-- `store/postgres/search.rs`); no typed word starts a tag, so a name's own
-- prefix query never reaches one, and ':' ends the tag, so one status's
-- prefix never reaches another's. Kept apart from `tags`, which the list's
-- other statements read as they are.
--
-- A generated column: whatever writes a row (this release's refresh, or
-- one still running the release before during an upgrade of several
-- instances) gets its joined words.

-- (plpgsql: the same as one SQL statement over `unnest` took 8-12 s for
-- 1,000,000 customers, this 3.4)
CREATE FUNCTION customer_search_status_words(tags TEXT, words TEXT) RETURNS TEXT
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    tag TEXT;
    lexemes TEXT[] := tsvector_to_array(to_tsvector('simple', words));
    out TEXT := '';
BEGIN
    IF coalesce(array_length(lexemes, 1), 0) = 0 THEN
        RETURN '';
    END IF;
    FOREACH tag IN ARRAY string_to_array(tags, ' ') LOOP
        IF tag ~ '^_[a-z_]+$' AND tag <> '_removido' THEN
            out := out || ' ' || tag || ':' || array_to_string(lexemes, ' ' || tag || ':');
        END IF;
    END LOOP;
    RETURN ltrim(out);
END
$$;

-- The name itself is not read from the index (its folded words are; the
-- page shows the customer's row): it only told the refresh that a row
-- changed, which the words tell as well as far as the index goes. This
-- release's refresh no longer writes it, so that its rows grow less for
-- the joined words (44 bytes a row on average at 1,000,000: a table
-- filled by this release is 138 MB against 116, instead of about 160).
-- Dropped in a later release, once no instance of the one before can
-- still be writing it.
ALTER TABLE customer_search ALTER COLUMN name DROP NOT NULL;

-- Dropped before the table is rewritten, and built once after.
DROP INDEX customer_search_words;
ALTER TABLE customer_search ADD COLUMN status_words TEXT NOT NULL
    GENERATED ALWAYS AS (customer_search_status_words(tags, words)) STORED;
CREATE INDEX customer_search_words ON customer_search USING gin (
    (to_tsvector('simple', words) || array_to_tsvector(string_to_array(tags, ' '))
        || array_to_tsvector(string_to_array(status_words, ' '))));
