-- Users, sessions, login throttling, API keys and endpoints.
-- Kept column for column identical to migrations/postgres/0001_foundation.sql.
-- Times are milliseconds since the Unix epoch and flags are 0/1, both BIGINT, so that both
-- databases store them alike (sqlx's Any driver decodes neither SQLite BOOLEAN nor dates).

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    is_admin      BIGINT  NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
    created_at    BIGINT  NOT NULL
);

CREATE TABLE sessions (
    token_hash   TEXT   PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE login_throttle (
    subject          TEXT   PRIMARY KEY,
    failures         BIGINT NOT NULL,
    first_failure_at BIGINT NOT NULL,
    locked_until     BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT   NOT NULL UNIQUE,
    prefix       TEXT   NOT NULL,
    key_hash     TEXT   NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT
);

CREATE TABLE proxmox_endpoints (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    name                TEXT    NOT NULL UNIQUE,
    url                 TEXT    NOT NULL,
    auth_kind           TEXT    NOT NULL CHECK (auth_kind IN ('token', 'password')),
    token_id            TEXT    NOT NULL DEFAULT '',
    token_secret_enc    TEXT,
    username            TEXT    NOT NULL DEFAULT '',
    password_enc        TEXT,
    verify_tls          BIGINT  NOT NULL CHECK (verify_tls IN (0, 1)),
    ca_pem              TEXT    NOT NULL DEFAULT '',
    timeout_secs        BIGINT  NOT NULL,
    enabled             BIGINT  NOT NULL CHECK (enabled IN (0, 1)),
    created_at          BIGINT  NOT NULL,
    updated_at          BIGINT  NOT NULL
);

-- Proxbox syncs into one NetBox: the row with id 1.
CREATE TABLE netbox_endpoints (
    id           BIGINT  PRIMARY KEY CHECK (id = 1),
    url          TEXT    NOT NULL,
    token_enc    TEXT    NOT NULL,
    verify_tls   BIGINT  NOT NULL CHECK (verify_tls IN (0, 1)),
    ca_pem       TEXT    NOT NULL DEFAULT '',
    timeout_secs BIGINT  NOT NULL,
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL
);
