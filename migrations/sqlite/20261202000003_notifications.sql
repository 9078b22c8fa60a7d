-- Notifications (SQLite form): each provider's targets (webhook URLs and
-- e-mail addresses, each with the events it wants), its webhook signing
-- secret (sealed), and the "no success in N hours" alert. Deliveries are
-- jobs of kind 'notification'. A finished import, or a paused schedule, is
-- announced once: notified_at / pause_notified_at mark it done.

CREATE TABLE notification_settings (
    tenant_id              BLOB PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    secret_sealed          BLOB,
    no_success_hours       INTEGER CHECK (no_success_hours IS NULL OR no_success_hours >= 1),
    -- when the last "no success" alert went out; re-armed by a success
    no_success_alerted_at  INTEGER,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL
) STRICT;

CREATE TABLE notification_targets (
    id          BLOB PRIMARY KEY,
    tenant_id   BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    channel     TEXT NOT NULL CHECK (channel IN ('webhook', 'email')),
    address     TEXT NOT NULL,
    events      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (tenant_id, channel, address)
) STRICT;

ALTER TABLE jobs ADD COLUMN notified_at INTEGER;
-- what finished before notifications existed is not announced
UPDATE jobs SET notified_at = finished_at WHERE finished_at IS NOT NULL;
-- by kind first: the announcer asks for imports, and other kinds' rows
-- (test deliveries) must not be walked past
CREATE INDEX jobs_to_notify ON jobs (kind, finished_at)
    WHERE finished_at IS NOT NULL AND notified_at IS NULL;

ALTER TABLE import_schedules ADD COLUMN pause_notified_at INTEGER;
