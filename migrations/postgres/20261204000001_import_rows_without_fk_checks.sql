-- The import writes hundreds of rows per page into customers, contracts and
-- import_changes. A foreign key checks its parent once per inserted row (a
-- trigger and a query each): measured on 100,000 customers, those checks
-- were half the time of the customers' and contracts' inserts. The parents
-- of a page's rows are never in doubt: the page holds its job row locked,
-- the job references its provider, and the customer ids come back from the
-- page's own insert. So the checks go, and what the keys did on delete is
-- kept by two statement triggers, which run once per DELETE, not per row:
-- a provider's removal still takes its customers and contracts, and a job's
-- removal (retention) still takes its change rows and clears
-- customers.last_job_id. SQLite keeps its keys: its check is one index probe.
-- Every write to these tables comes from a path that holds its job row
-- locked (the page, the sweep, the confirmation), so a concurrent removal
-- waits for it and its trigger then sees the rows it wrote.
ALTER TABLE customers
    DROP CONSTRAINT customers_tenant_id_fkey,
    DROP CONSTRAINT customers_last_job_id_fkey;
ALTER TABLE contracts
    DROP CONSTRAINT contracts_tenant_id_fkey,
    DROP CONSTRAINT contracts_customer_id_fkey;
ALTER TABLE import_changes DROP CONSTRAINT import_changes_job_id_fkey;

CREATE FUNCTION tenants_take_imported_rows() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM contracts WHERE tenant_id IN (SELECT id FROM gone);
    DELETE FROM customers WHERE tenant_id IN (SELECT id FROM gone);
    RETURN NULL;
END
$$;
-- The provider's jobs go by their own key's cascade, which fires the jobs
-- trigger below for their change rows.
CREATE TRIGGER tenants_take_imported_rows AFTER DELETE ON tenants
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION tenants_take_imported_rows();

CREATE FUNCTION jobs_take_their_changes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM import_changes WHERE job_id IN (SELECT id FROM gone);
    -- (not the customers of a provider being removed: they go next)
    UPDATE customers SET last_job_id = NULL
     WHERE last_job_id IN (SELECT id FROM gone)
       AND EXISTS (SELECT 1 FROM tenants t WHERE t.id = customers.tenant_id);
    RETURN NULL;
END
$$;
CREATE TRIGGER jobs_take_their_changes AFTER DELETE ON jobs
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_take_their_changes();
