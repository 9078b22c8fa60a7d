-- The customers page's order becomes the folded name (`words`: lower case,
-- no accents), so that "Álvaro" sorts among the A's (in the name's byte
-- order it came after every Z) and, above all, so that the customers whose
-- first word starts with what was typed lie together in the page's order:
-- a first name's matches are then one range of the index instead of a
-- walk through every name before them (143 ms for "thiago" at 1,000,000).
DROP INDEX customer_search_name;
CREATE INDEX customer_search_order ON customer_search (tenant_id, words, customer_id);

-- The words after the first, for the few matches a first name's range
-- does not hold ("ana thiago" for "thiago"). Contentless: the text is
-- derived from customer_search.words by the triggers (the appended space
-- makes a one-word name's rest empty), and a delete repeats what was
-- inserted, as FTS5 requires.
CREATE VIRTUAL TABLE customer_search_rest USING fts5(
    rest, content = '', detail = 'none', prefix = '2 3'
);
CREATE TRIGGER customer_search_rest_insert AFTER INSERT ON customer_search BEGIN
    INSERT INTO customer_search_rest (rowid, rest) VALUES (new.customer_id,
        substr(new.words || ' ', instr(new.words || ' ', ' ') + 1));
END;
CREATE TRIGGER customer_search_rest_delete AFTER DELETE ON customer_search BEGIN
    INSERT INTO customer_search_rest (customer_search_rest, rowid, rest) VALUES ('delete',
        old.customer_id, substr(old.words || ' ', instr(old.words || ' ', ' ') + 1));
END;
CREATE TRIGGER customer_search_rest_update AFTER UPDATE OF words ON customer_search BEGIN
    INSERT INTO customer_search_rest (customer_search_rest, rowid, rest) VALUES ('delete',
        old.customer_id, substr(old.words || ' ', instr(old.words || ' ', ' ') + 1));
    INSERT INTO customer_search_rest (rowid, rest) VALUES (new.customer_id,
        substr(new.words || ' ', instr(new.words || ' ', ' ') + 1));
END;
INSERT INTO customer_search_rest (rowid, rest)
    SELECT customer_id, substr(words || ' ', instr(words || ' ', ' ') + 1) FROM customer_search;
