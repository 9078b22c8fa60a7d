-- customers.last_job_id was indexed only for a job's removal (retention),
-- which clears it. The index was written by every customer an import
-- inserts and kept every update that sets the column (all of them) from
-- being made in place (HOT). That update now reads the removed jobs'
-- providers' customers through their key index instead: a rare statement
-- pays, not each import.
DROP INDEX customers_last_job;

CREATE OR REPLACE FUNCTION jobs_take_their_changes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM import_changes WHERE job_id IN (SELECT id FROM gone);
    -- (not the customers of a provider being removed: they go next)
    UPDATE customers SET last_job_id = NULL
     WHERE tenant_id IN (SELECT DISTINCT tenant_id FROM gone)
       AND last_job_id IN (SELECT id FROM gone)
       AND EXISTS (SELECT 1 FROM tenants t WHERE t.id = customers.tenant_id);
    RETURN NULL;
END
$$;
