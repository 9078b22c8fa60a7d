-- The customers page's order becomes the folded name (`words`: lower case,
-- no accents), so that "Álvaro" sorts among the A's (in the name's byte
-- order it came after every Z) and, above all, so that the customers whose
-- first word starts with what was typed lie together in the page's order:
-- a first name's matches are then one range of the index instead of a
-- walk through every name before them (143 ms for "thiago" at 1,000,000).
DROP INDEX customer_search_name;
ALTER TABLE customer_search ALTER COLUMN words TYPE TEXT COLLATE "C";
CREATE INDEX customer_search_order ON customer_search (tenant_id, words, customer_id);
-- The words after the first, for the few matches a first name's range
-- does not hold ("ana thiago" for "thiago"); `search.rs` repeats this
-- expression (the appended space makes a one-word name's rest empty).
CREATE INDEX customer_search_rest ON customer_search
    USING gin (to_tsvector('simple', substr(words || ' ', strpos(words || ' ', ' ') + 1)));
