-- Job counts per kind as well as status: notification deliveries are jobs
-- too, and the imports dashboard counts imports only.

DROP TRIGGER jobs_counts_insert;
DROP TRIGGER jobs_counts_delete;
DROP TRIGGER jobs_counts_status;
DROP TABLE job_counts;

CREATE TABLE job_counts (
    tenant_id  BLOB NOT NULL,
    kind       TEXT NOT NULL,
    status     TEXT NOT NULL,
    shard      INTEGER NOT NULL,
    n          INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, kind, status, shard)
) STRICT;

INSERT INTO job_counts (tenant_id, kind, status, shard, n)
SELECT tenant_id, kind, status, 0, count(*) FROM jobs WHERE true GROUP BY tenant_id, kind, status;

CREATE TRIGGER jobs_counts_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO job_counts (tenant_id, kind, status, shard, n) VALUES (NEW.tenant_id, NEW.kind, NEW.status, 0, 1)
    ON CONFLICT (tenant_id, kind, status, shard) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER jobs_counts_delete AFTER DELETE ON jobs BEGIN
    INSERT INTO job_counts (tenant_id, kind, status, shard, n) VALUES (OLD.tenant_id, OLD.kind, OLD.status, 0, -1)
    ON CONFLICT (tenant_id, kind, status, shard) DO UPDATE SET n = n - 1;
END;

CREATE TRIGGER jobs_counts_status AFTER UPDATE OF status ON jobs
WHEN OLD.status IS NOT NEW.status BEGIN
    INSERT INTO job_counts (tenant_id, kind, status, shard, n) VALUES (OLD.tenant_id, OLD.kind, OLD.status, 0, -1)
    ON CONFLICT (tenant_id, kind, status, shard) DO UPDATE SET n = n - 1;
    INSERT INTO job_counts (tenant_id, kind, status, shard, n) VALUES (NEW.tenant_id, NEW.kind, NEW.status, 0, 1)
    ON CONFLICT (tenant_id, kind, status, shard) DO UPDATE SET n = n + 1;
END;
