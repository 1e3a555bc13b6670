-- Indexes for the syncer's scans of users, and the widget's embedding origin
-- on connect sessions.

-- DueForSync: users whose next attempt is due.
CREATE INDEX users_sync_next_attempt ON users (sync_next_attempt_at);
-- BeginSync: running syncs per utility that started recently.
CREATE INDEX users_utility_sync ON users (utility_id, sync_status, sync_last_attempt_at);

-- PurgeConnectSessions: sessions by expiry.
CREATE INDEX connect_sessions_expires ON connect_sessions (expires_at);

-- The checked origin of the page embedding the widget; '' outside the widget.
ALTER TABLE connect_sessions ADD COLUMN embed_origin TEXT NOT NULL DEFAULT '';
