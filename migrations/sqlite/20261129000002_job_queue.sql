-- Job engine support (SQLite form): fencing token, per-status counts kept
-- by triggers, queue-position index. One writer at a time, so one shard.

ALTER TABLE jobs ADD COLUMN fence INTEGER NOT NULL DEFAULT 0;

CREATE TABLE job_counts (
    tenant_id  BLOB NOT NULL,
    status     TEXT NOT NULL,
    shard      INTEGER NOT NULL,
    n          INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, status, shard)
) STRICT;

INSERT INTO job_counts (tenant_id, status, shard, n)
SELECT tenant_id, status, 0, count(*) FROM jobs WHERE true GROUP BY tenant_id, status;

CREATE TRIGGER jobs_counts_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO job_counts (tenant_id, status, shard, n) VALUES (NEW.tenant_id, NEW.status, 0, 1)
    ON CONFLICT (tenant_id, status, shard) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER jobs_counts_delete AFTER DELETE ON jobs BEGIN
    INSERT INTO job_counts (tenant_id, status, shard, n) VALUES (OLD.tenant_id, OLD.status, 0, -1)
    ON CONFLICT (tenant_id, status, shard) DO UPDATE SET n = n - 1;
END;

CREATE TRIGGER jobs_counts_status AFTER UPDATE OF status ON jobs
WHEN OLD.status IS NOT NEW.status BEGIN
    INSERT INTO job_counts (tenant_id, status, shard, n) VALUES (OLD.tenant_id, OLD.status, 0, -1)
    ON CONFLICT (tenant_id, status, shard) DO UPDATE SET n = n - 1;
    INSERT INTO job_counts (tenant_id, status, shard, n) VALUES (NEW.tenant_id, NEW.status, 0, 1)
    ON CONFLICT (tenant_id, status, shard) DO UPDATE SET n = n + 1;
END;

CREATE INDEX jobs_queue ON jobs (tenant_id, kind, created_at, id)
    WHERE status IN ('queued', 'retrying');
CREATE INDEX jobs_active ON jobs (tenant_id, kind)
    WHERE status IN ('running', 'cancelling');
-- Claim order: the oldest waiting jobs first, without sorting the queue.
CREATE INDEX jobs_claim_order ON jobs (created_at, id)
    WHERE status IN ('queued', 'retrying');
