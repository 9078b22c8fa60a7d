-- Fair claiming that does not grow with the queue. Each provider's jobs
-- of one kind form a lane. The claim walks the lanes that have a job due
-- in id order, starting after the lane it served last (the cursor) and
-- wrapping around: round-robin across providers. It takes each lane's
-- oldest jobs through an index. Before, every claim numbered every
-- waiting job of every provider.
--
-- ready_at is never later than the earliest run_after of the lane's
-- waiting jobs (NULL: none waiting, and the walk skips the lane). A job
-- entering the queue lowers it (trigger below); the claim recomputes it
-- for the lanes that gave fewer jobs than it asked for.
-- The claim runs alone, under an advisory lock.
-- Instances still running the previous version may queue jobs while this
-- runs: none may slip between the lanes' backfill and their trigger.
LOCK TABLE jobs IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE job_lanes (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind      TEXT NOT NULL,
    ready_at  TIMESTAMPTZ,
    UNIQUE (tenant_id, kind)
);
-- the claim's walk: only lanes with something waiting
CREATE INDEX job_lanes_waiting ON job_lanes (id) WHERE ready_at IS NOT NULL;

-- The lane the last claim ended on; the next starts after it.
CREATE TABLE job_claim_cursor (
    only_row  BOOLEAN PRIMARY KEY DEFAULT true CHECK (only_row),
    lane      BIGINT NOT NULL
);
INSERT INTO job_claim_cursor (only_row, lane) VALUES (true, 0);

INSERT INTO job_lanes (tenant_id, kind, ready_at)
SELECT tenant_id, kind, min(run_after) FROM jobs
WHERE status IN ('queued', 'retrying')
GROUP BY tenant_id, kind
ORDER BY min(created_at);

-- A lane's jobs in the order it runs them: due first, then oldest. One
-- index gives the claim its next jobs, ready_at its earliest due time and
-- a job its queue position.
DROP INDEX jobs_queue;
CREATE INDEX jobs_queue ON jobs (tenant_id, kind, run_after, created_at, id)
    WHERE status IN ('queued', 'retrying');
-- Replaced by the lanes: the old claim scanned these across providers.
DROP INDEX jobs_claim_order;
DROP INDEX jobs_runnable;
-- Running jobs per provider are few: jobs_tenant_status counts them. Each
-- index keyed by provider costs a claim one more page per provider.
DROP INDEX jobs_active;

-- The shared side of the claim's lock (0x5347_5049_4d50, "SGPIMP"): a job
-- entering the queue waits for a running claim to commit, and a claim
-- waits for the transactions that queued jobs to commit, so the claim's
-- recomputed ready_at never misses a job that was being queued.
CREATE FUNCTION jobs_open_lane() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(91565754764624);
    INSERT INTO job_lanes (tenant_id, kind, ready_at)
    VALUES (NEW.tenant_id, NEW.kind, NEW.run_after)
    ON CONFLICT (tenant_id, kind)
        DO UPDATE SET ready_at = excluded.ready_at
        WHERE job_lanes.ready_at IS NULL OR excluded.ready_at < job_lanes.ready_at;
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_lane_insert AFTER INSERT ON jobs
    FOR EACH ROW WHEN (NEW.status IN ('queued', 'retrying'))
    EXECUTE FUNCTION jobs_open_lane();
-- Only jobs coming back to the queue (retry, release, rescue, rerun): a
-- job already waiting is never locked by this trigger, so it cannot wait
-- on a claim that waits on its row.
CREATE TRIGGER jobs_lane_requeue AFTER UPDATE OF status ON jobs
    FOR EACH ROW WHEN (NEW.status IN ('queued', 'retrying')
        AND OLD.status NOT IN ('queued', 'retrying'))
    EXECUTE FUNCTION jobs_open_lane();
