-- Job counts per kind as well as status: notification deliveries are jobs
-- too, and the imports dashboard counts imports only. Same statement-level
-- maintenance as before, with the kind in the key.

DROP TRIGGER jobs_counts_insert ON jobs;
DROP TRIGGER jobs_counts_delete ON jobs;
DROP TRIGGER jobs_counts_update ON jobs;
DROP FUNCTION jobs_count_inserted();
DROP FUNCTION jobs_count_deleted();
DROP FUNCTION jobs_count_updated();
DROP TABLE job_counts;

CREATE TABLE job_counts (
    tenant_id  UUID NOT NULL,
    kind       TEXT NOT NULL,
    status     TEXT NOT NULL,
    shard      SMALLINT NOT NULL,
    n          BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, kind, status, shard)
);

INSERT INTO job_counts (tenant_id, kind, status, shard, n)
SELECT tenant_id, kind, status, 0, count(*) FROM jobs GROUP BY tenant_id, kind, status;

CREATE FUNCTION jobs_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_counts (tenant_id, kind, status, shard, n)
    SELECT tenant_id, kind, status, (pg_backend_pid() % 8)::smallint, count(*)
    FROM new_rows GROUP BY tenant_id, kind, status ORDER BY tenant_id, kind, status
    ON CONFLICT (tenant_id, kind, status, shard) DO UPDATE SET n = job_counts.n + excluded.n;
    RETURN NULL;
END
$$;

CREATE FUNCTION jobs_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_counts (tenant_id, kind, status, shard, n)
    SELECT tenant_id, kind, status, (pg_backend_pid() % 8)::smallint, -count(*)
    FROM old_rows GROUP BY tenant_id, kind, status ORDER BY tenant_id, kind, status
    ON CONFLICT (tenant_id, kind, status, shard) DO UPDATE SET n = job_counts.n + excluded.n;
    RETURN NULL;
END
$$;

CREATE FUNCTION jobs_count_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_counts (tenant_id, kind, status, shard, n)
    SELECT tenant_id, kind, status, (pg_backend_pid() % 8)::smallint, sum(d)
    FROM (
        SELECT tenant_id, kind, status, -1 AS d FROM old_rows
        UNION ALL
        SELECT tenant_id, kind, status, 1 AS d FROM new_rows
    ) AS changes
    GROUP BY tenant_id, kind, status
    HAVING sum(d) <> 0
    ORDER BY tenant_id, kind, status
    ON CONFLICT (tenant_id, kind, status, shard) DO UPDATE SET n = job_counts.n + excluded.n;
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_counts_insert AFTER INSERT ON jobs
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_count_inserted();
CREATE TRIGGER jobs_counts_delete AFTER DELETE ON jobs
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_count_deleted();
CREATE TRIGGER jobs_counts_update AFTER UPDATE ON jobs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_count_updated();
