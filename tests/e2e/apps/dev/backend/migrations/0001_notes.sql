-- Applied by `dev` at start when the workspace asks for it (tests/e2e/test_dev_migrations.py).
CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL);
INSERT INTO notes (text) VALUES ('migrated');
