-- Migration number: 0001 	 2025-12-22T00:00:00.000Z
-- The battle-data index (dev-kc-battle-index), shared by fusou-web and fusou-workflow.
-- Column names follow the original FUSOU schema (datasets, battle_files) where they exist.

CREATE TABLE IF NOT EXISTS datasets (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  dataset_name TEXT NOT NULL,
  dataset_ref TEXT NOT NULL UNIQUE,
  compaction_needed INTEGER NOT NULL DEFAULT 0,
  compaction_in_progress INTEGER NOT NULL DEFAULT 0,
  last_compacted_at TEXT,
  file_size_bytes INTEGER,
  file_etag TEXT,
  compression_ratio REAL,
  row_count INTEGER,
  created_at TEXT DEFAULT CURRENT_TIMESTAMP,
  updated_at TEXT DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS idx_datasets_user_id ON datasets(user_id);

CREATE TABLE IF NOT EXISTS battle_files (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  key TEXT NOT NULL UNIQUE,
  dataset_id TEXT NOT NULL,
  "table" TEXT NOT NULL,
  period_tag TEXT NOT NULL,
  size INTEGER NOT NULL,
  etag TEXT,
  uploaded_at TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  -- The spec's name for the content hash; the original called it content_hash.
  sha256 TEXT GENERATED ALWAYS AS (content_hash) VIRTUAL,
  uploaded_by TEXT NOT NULL,
  created_at TEXT DEFAULT CURRENT_TIMESTAMP,
  table_offsets TEXT DEFAULT NULL,
  rows INTEGER NOT NULL DEFAULT 0,
  schema_fingerprint TEXT,
  compacted_at TEXT,
  compacted_run_id TEXT,
  quarantined_at TEXT,
  quarantine_reason TEXT
);
-- The same bytes uploaded twice for one dataset/table/period are stored once.
CREATE UNIQUE INDEX IF NOT EXISTS idx_battle_files_content
  ON battle_files(dataset_id, "table", period_tag, content_hash);
CREATE INDEX IF NOT EXISTS idx_battle_files_period_tag
  ON battle_files(dataset_id, "table", period_tag, uploaded_at);
CREATE INDEX IF NOT EXISTS idx_battle_files_uploaded_by ON battle_files(uploaded_by, uploaded_at DESC);

CREATE TABLE IF NOT EXISTS compacted_files (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  dataset_id TEXT NOT NULL,
  "table" TEXT NOT NULL,
  period_tag TEXT NOT NULL,
  part INTEGER NOT NULL,
  key TEXT NOT NULL UNIQUE,
  schema_fingerprint TEXT NOT NULL,
  size INTEGER NOT NULL,
  rows INTEGER NOT NULL,
  run_id TEXT NOT NULL,
  created_at TEXT DEFAULT CURRENT_TIMESTAMP,
  updated_at TEXT DEFAULT CURRENT_TIMESTAMP,
  UNIQUE (dataset_id, "table", period_tag, part)
);

-- One row per (dataset, table, period): whether a compaction is owed, and the lease of the
-- run doing it. At most one run holds the lease; triggers arriving meanwhile leave
-- `needed` set and the holder re-enqueues a follow-up when it finishes.
CREATE TABLE IF NOT EXISTS pending_compactions (
  dataset_id TEXT NOT NULL,
  "table" TEXT NOT NULL,
  period_tag TEXT NOT NULL,
  user_id TEXT NOT NULL,
  needed INTEGER NOT NULL DEFAULT 1,
  request_count INTEGER NOT NULL DEFAULT 0,
  requested_at TEXT,
  queued_at TEXT,
  lease_owner TEXT,
  lease_expires_at INTEGER,
  last_run_id TEXT,
  updated_at TEXT DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (dataset_id, "table", period_tag)
);
CREATE INDEX IF NOT EXISTS idx_pending_compactions_needed ON pending_compactions(needed, lease_expires_at);

CREATE TABLE IF NOT EXISTS compaction_runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id TEXT NOT NULL UNIQUE,
  dataset_id TEXT NOT NULL,
  "table" TEXT NOT NULL,
  period_tag TEXT NOT NULL,
  metric_id TEXT,
  priority TEXT,
  status TEXT NOT NULL CHECK (status IN ('success', 'failure', 'coalesced', 'nothing-to-do')),
  rows_in INTEGER NOT NULL DEFAULT 0,
  rows_out INTEGER NOT NULL DEFAULT 0,
  duplicates_dropped INTEGER NOT NULL DEFAULT 0,
  bytes_in INTEGER NOT NULL DEFAULT 0,
  bytes_out INTEGER NOT NULL DEFAULT 0,
  compression_ratio REAL,
  fragments_merged INTEGER NOT NULL DEFAULT 0,
  fragments_quarantined INTEGER NOT NULL DEFAULT 0,
  outputs INTEGER NOT NULL DEFAULT 0,
  workflow_total_duration_ms INTEGER NOT NULL DEFAULT 0,
  error_step TEXT,
  error_message TEXT,
  started_at TEXT,
  finished_at TEXT,
  created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX IF NOT EXISTS idx_compaction_runs_key
  ON compaction_runs(dataset_id, "table", period_tag, id DESC);

CREATE TABLE IF NOT EXISTS compaction_failures (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  source TEXT NOT NULL,
  message_id TEXT,
  dataset_id TEXT,
  "table" TEXT,
  period_tag TEXT,
  user_id TEXT,
  reason TEXT NOT NULL,
  body TEXT,
  attempts INTEGER,
  created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX IF NOT EXISTS idx_compaction_failures_dataset ON compaction_failures(dataset_id, id DESC);
