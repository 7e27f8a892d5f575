-- BooksWriter schema, SQLite flavour. The same logical schema as src/schema/tables.ts and
-- migrations/postgres/0001_initial.sql (test/unit/schema.test.ts checks every declared column).
--
-- Conventions (why, not what):
-- * STRICT tables: SQLite otherwise stores a string in an INTEGER column without complaint.
-- * ids are UUID text (the service generates them with crypto.randomUUID); the length check keeps
--   a truncated or foreign-format id out.
-- * Timestamps are ISO-8601 UTC text with milliseconds ('2026-11-28T12:00:00.000Z'). The CHECK
--   keeps every value in exactly that canonical form, so that text order is time order and range
--   filters / sorts on created_at work as comparisons of strings.
-- * JSON columns are TEXT holding valid JSON (default '{}'); booleans are INTEGER 0/1.
-- * Length limits mirror maxLength in tables.ts (length() counts characters, not bytes).
-- * Every statement is IF NOT EXISTS so that re-applying on a database created by hand is harmless.

CREATE TABLE IF NOT EXISTS users (
  id            TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
  email         TEXT    NOT NULL CHECK (length(email) BETWEEN 1 AND 320),
  display_name  TEXT    NOT NULL CHECK (length(display_name) <= 200),
  preferences   TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(preferences)),
  created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                        CHECK (strftime('%Y-%m-%dT%H:%M:%fZ', created_at) = created_at),
  updated_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                        CHECK (strftime('%Y-%m-%dT%H:%M:%fZ', updated_at) = updated_at),
  CONSTRAINT users_email_key UNIQUE (email)
) STRICT;

CREATE INDEX IF NOT EXISTS users_created_at_idx ON users (created_at);

CREATE TABLE IF NOT EXISTS sessions (
  id            TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
  user_id       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  title         TEXT    NOT NULL CHECK (length(title) <= 500),
  status        TEXT    NOT NULL DEFAULT 'active' CHECK (length(status) <= 32),
  metadata      TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
  created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                        CHECK (strftime('%Y-%m-%dT%H:%M:%fZ', created_at) = created_at),
  updated_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                        CHECK (strftime('%Y-%m-%dT%H:%M:%fZ', updated_at) = updated_at)
) STRICT;

-- (user_id, created_at) serves the foreign key (cascade deletes, "sessions of a user") and the
-- default sort within a user.
CREATE INDEX IF NOT EXISTS sessions_user_id_created_at_idx ON sessions (user_id, created_at);
CREATE INDEX IF NOT EXISTS sessions_created_at_idx ON sessions (created_at);
CREATE INDEX IF NOT EXISTS sessions_status_idx ON sessions (status);

CREATE TABLE IF NOT EXISTS authors (
  id            TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
  session_id    TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  name          TEXT    NOT NULL CHECK (length(name) <= 200),
  bio           TEXT             CHECK (length(bio) <= 200000),
  writing_style TEXT             CHECK (length(writing_style) <= 2000),
  metadata      TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
  created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                        CHECK (strftime('%Y-%m-%dT%H:%M:%fZ', created_at) = created_at),
  updated_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                        CHECK (strftime('%Y-%m-%dT%H:%M:%fZ', updated_at) = updated_at)
) STRICT;

CREATE INDEX IF NOT EXISTS authors_session_id_created_at_idx ON authors (session_id, created_at);
CREATE INDEX IF NOT EXISTS authors_created_at_idx ON authors (created_at);
CREATE INDEX IF NOT EXISTS authors_name_idx ON authors (name);

CREATE TABLE IF NOT EXISTS plots (
  id            TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
  session_id    TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  author_id     TEXT             REFERENCES authors (id) ON DELETE SET NULL,
  title         TEXT    NOT NULL CHECK (length(title) <= 500),
  summary       TEXT             CHECK (length(summary) <= 200000),
  genre         TEXT             CHECK (length(genre) <= 100),
  status        TEXT    NOT NULL DEFAULT 'draft' CHECK (length(status) <= 32),
  word_count    INTEGER NOT NULL DEFAULT 0 CHECK (word_count >= 0),
  is_published  INTEGER NOT NULL DEFAULT 0 CHECK (is_published IN (0, 1)),
  metadata      TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
  created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                        CHECK (strftime('%Y-%m-%dT%H:%M:%fZ', created_at) = created_at),
  updated_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                        CHECK (strftime('%Y-%m-%dT%H:%M:%fZ', updated_at) = updated_at)
) STRICT;

CREATE INDEX IF NOT EXISTS plots_session_id_created_at_idx ON plots (session_id, created_at);
CREATE INDEX IF NOT EXISTS plots_author_id_idx ON plots (author_id);
CREATE INDEX IF NOT EXISTS plots_created_at_idx ON plots (created_at);
CREATE INDEX IF NOT EXISTS plots_status_idx ON plots (status);
CREATE INDEX IF NOT EXISTS plots_genre_idx ON plots (genre);

CREATE TABLE IF NOT EXISTS world_building (
  id            TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
  session_id    TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  name          TEXT    NOT NULL CHECK (length(name) <= 200),
  category      TEXT             CHECK (length(category) <= 100),
  description   TEXT             CHECK (length(description) <= 200000),
  details       TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(details)),
  created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                        CHECK (strftime('%Y-%m-%dT%H:%M:%fZ', created_at) = created_at),
  updated_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                        CHECK (strftime('%Y-%m-%dT%H:%M:%fZ', updated_at) = updated_at)
) STRICT;

CREATE INDEX IF NOT EXISTS world_building_session_id_created_at_idx ON world_building (session_id, created_at);
CREATE INDEX IF NOT EXISTS world_building_created_at_idx ON world_building (created_at);
CREATE INDEX IF NOT EXISTS world_building_category_idx ON world_building (category);

CREATE TABLE IF NOT EXISTS characters (
  id                TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 36),
  session_id        TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  world_building_id TEXT          REFERENCES world_building (id) ON DELETE SET NULL,
  name              TEXT NOT NULL CHECK (length(name) <= 200),
  role              TEXT          CHECK (length(role) <= 100),
  description       TEXT          CHECK (length(description) <= 200000),
  traits            TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(traits)),
  created_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                         CHECK (strftime('%Y-%m-%dT%H:%M:%fZ', created_at) = created_at),
  updated_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                         CHECK (strftime('%Y-%m-%dT%H:%M:%fZ', updated_at) = updated_at)
) STRICT;

CREATE INDEX IF NOT EXISTS characters_session_id_created_at_idx ON characters (session_id, created_at);
CREATE INDEX IF NOT EXISTS characters_world_building_id_idx ON characters (world_building_id);
CREATE INDEX IF NOT EXISTS characters_created_at_idx ON characters (created_at);
CREATE INDEX IF NOT EXISTS characters_role_idx ON characters (role);
