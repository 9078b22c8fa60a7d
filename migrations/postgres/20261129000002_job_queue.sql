-- Job engine support: a fencing token per claim, cheap per-status counts,
-- and an index for queue positions.

-- Incremented by every claim; a worker's writes carry the value it claimed
-- with, so a stale worker cannot touch a later attempt.
ALTER TABLE jobs ADD COLUMN fence BIGINT NOT NULL DEFAULT 0;

-- Per-status counts kept by triggers, so the dashboard's tabs never count
-- the whole history. Spread over 8 shards so concurrent executors do not
-- queue on one hot row. The shard is the connection's (backend pid), not
-- random per row: a transaction that changes many jobs then touches one
-- shard row per status, always in the same order, so two such
-- transactions cannot deadlock on the counters. No foreign key: deleting a
-- tenant cascades to its jobs, whose delete trigger still writes here.
CREATE TABLE job_counts (
    tenant_id  UUID NOT NULL,
    status     TEXT NOT NULL,
    shard      SMALLINT NOT NULL,
    n          BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, status, shard)
);

INSERT INTO job_counts (tenant_id, status, shard, n)
SELECT tenant_id, status, 0, count(*) FROM jobs GROUP BY tenant_id, status;

CREATE FUNCTION jobs_maintain_counts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    s SMALLINT := (pg_backend_pid() % 8)::smallint;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO job_counts (tenant_id, status, shard, n)
        VALUES (OLD.tenant_id, OLD.status, s, -1)
        ON CONFLICT (tenant_id, status, shard) DO UPDATE SET n = job_counts.n - 1;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO job_counts (tenant_id, status, shard, n)
        VALUES (NEW.tenant_id, NEW.status, s, 1)
        ON CONFLICT (tenant_id, status, shard) DO UPDATE SET n = job_counts.n + 1;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_counts_insert_delete AFTER INSERT OR DELETE ON jobs
    FOR EACH ROW EXECUTE FUNCTION jobs_maintain_counts();
CREATE TRIGGER jobs_counts_status AFTER UPDATE OF status ON jobs
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION jobs_maintain_counts();

-- Queue positions: waiting jobs of one provider and kind, oldest first.
CREATE INDEX jobs_queue ON jobs (tenant_id, kind, created_at, id)
    WHERE status IN ('queued', 'retrying');
-- Per-provider running limits.
CREATE INDEX jobs_active ON jobs (tenant_id, kind)
    WHERE status IN ('running', 'cancelling');
-- Claim order: the oldest waiting jobs first, without sorting the queue.
CREATE INDEX jobs_claim_order ON jobs (created_at, id)
    WHERE status IN ('queued', 'retrying');
