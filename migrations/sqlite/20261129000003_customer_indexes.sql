-- Customer indexes for the import's sake.
--
-- Deleting a job (retention purge) sets customers.last_job_id to NULL where
-- it pointed at that job; without an index each deleted job scanned every
-- customer. The index is cheap to keep: one import writes one value.
CREATE INDEX customers_last_job ON customers (last_job_id);

-- The name and CPF/CNPJ indexes go. Imports arrive in SGP's order, so every
-- page of 100 customers inserted into 200 random leaves of these two
-- indexes; that halved import speed (10,000 customers/s with them, 21,000
-- without, on the 2-core reference machine). Searching a provider's
-- customers by name or CPF/CNPJ scans that provider's rows instead (tens of
-- milliseconds per 100,000 customers); PostgreSQL keeps both indexes.
DROP INDEX customers_tenant_name;
DROP INDEX customers_tenant_doc;
