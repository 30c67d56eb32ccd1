-- Migration number: 0002 	 2025-12-22T12:00:00.000Z
-- Consecutive failed runs per (dataset, table, period): the cron re-drive stops retrying a
-- key after 3 of them, until a new upload or a manual trigger resets the count.
ALTER TABLE pending_compactions ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
