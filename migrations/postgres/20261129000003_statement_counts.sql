-- Per-status counts maintained once per statement instead of once per row.
-- The executor claims and completes jobs in batches; a row trigger
-- rewrote the same counter row twice per job of a batch, which cost more
-- than the jobs themselves. A statement trigger sees the whole batch in
-- its transition tables and writes each (tenant, status) counter once,
-- in a fixed order, so concurrent batches cannot deadlock on them.
-- (Transition tables cannot go with a column list, so the update trigger
-- fires for every UPDATE and finds nothing to write unless a status changed.)

DROP TRIGGER jobs_counts_insert_delete ON jobs;
DROP TRIGGER jobs_counts_status ON jobs;
DROP FUNCTION jobs_maintain_counts();

CREATE FUNCTION jobs_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_counts (tenant_id, status, shard, n)
    SELECT tenant_id, status, (pg_backend_pid() % 8)::smallint, count(*)
    FROM new_rows GROUP BY tenant_id, status ORDER BY tenant_id, status
    ON CONFLICT (tenant_id, status, shard) DO UPDATE SET n = job_counts.n + excluded.n;
    RETURN NULL;
END
$$;

CREATE FUNCTION jobs_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_counts (tenant_id, status, shard, n)
    SELECT tenant_id, status, (pg_backend_pid() % 8)::smallint, -count(*)
    FROM old_rows GROUP BY tenant_id, status ORDER BY tenant_id, status
    ON CONFLICT (tenant_id, status, shard) DO UPDATE SET n = job_counts.n + excluded.n;
    RETURN NULL;
END
$$;

-- No need to pair old and new rows: a row whose status did not change adds
-- -1 and +1 to the same counter, which nets out (and is filtered out).
CREATE FUNCTION jobs_count_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_counts (tenant_id, status, shard, n)
    SELECT tenant_id, status, (pg_backend_pid() % 8)::smallint, sum(d)
    FROM (
        SELECT tenant_id, status, -1 AS d FROM old_rows
        UNION ALL
        SELECT tenant_id, status, 1 AS d FROM new_rows
    ) AS changes
    GROUP BY tenant_id, status
    HAVING sum(d) <> 0
    ORDER BY tenant_id, status
    ON CONFLICT (tenant_id, status, shard) DO UPDATE SET n = job_counts.n + excluded.n;
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

-- job_logs.tenant_id copies its job's tenant, whose own foreign key already
-- ties it to the provider. Checking it again locked the tenant's row once
-- per log line, and every worker writes log lines for the same provider.
ALTER TABLE job_logs DROP CONSTRAINT job_logs_tenant_id_fkey;
