-- Deleting a job (retention purge) sets customers.last_job_id to NULL where
-- it pointed at that job; without an index each deleted job scanned every
-- customer.
CREATE INDEX customers_last_job ON customers (last_job_id);
