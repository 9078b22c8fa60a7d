-- job_logs loses its foreign key to jobs: the check ran once per log line
-- (an index probe and a row lock on the job), the most expensive part of
-- writing a line. Lines are only ever inserted by statements that join
-- them to their job's row, and a statement trigger deletes the lines of
-- deleted jobs (purge, or a provider's deletion cascading to its jobs).
ALTER TABLE job_logs DROP CONSTRAINT job_logs_job_id_fkey;

CREATE FUNCTION jobs_delete_logs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM job_logs WHERE job_id IN (SELECT id FROM old_rows);
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_delete_logs AFTER DELETE ON jobs
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_delete_logs();
