-- Scheduled imports. Each job records where it came from; a scheduled run
-- also records the instant it was scheduled for, unique per provider and
-- kind, so two instances never enqueue the same slot.

ALTER TABLE jobs ADD COLUMN origin TEXT NOT NULL DEFAULT 'manual'
    CHECK (origin IN ('manual', 'scheduled', 'api'));
ALTER TABLE jobs ADD COLUMN scheduled_for TIMESTAMPTZ;
CREATE UNIQUE INDEX jobs_scheduled_once ON jobs (tenant_id, kind, scheduled_for)
    WHERE scheduled_for IS NOT NULL;

CREATE TABLE import_schedules (
    tenant_id             UUID PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    active                BOOLEAN NOT NULL,
    cron                  TEXT NOT NULL,
    incremental           BOOLEAN NOT NULL,
    only_active           BOOLEAN NOT NULL,
    signup_from           TEXT,
    signup_to             TEXT,
    pause_after_failures  INTEGER NOT NULL CHECK (pause_after_failures >= 1),
    consecutive_failures  INTEGER NOT NULL DEFAULT 0,
    -- the slot to run next; NULL while inactive
    next_run_at           TIMESTAMPTZ,
    last_run_at           TIMESTAMPTZ,
    -- the last scheduled import, until its outcome is counted
    pending_job_id        UUID REFERENCES jobs (id) ON DELETE SET NULL,
    paused_at             TIMESTAMPTZ,
    pause_reason          TEXT,
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL
);
CREATE INDEX import_schedules_due ON import_schedules (next_run_at) WHERE active;
CREATE INDEX import_schedules_pending ON import_schedules (pending_job_id)
    WHERE pending_job_id IS NOT NULL;
