-- Roles for people and scopes for API keys.
-- Kept column for column identical in migrations/sqlite and migrations/postgres.
-- Everyone who could log in before was an administrator in effect, so existing users
-- keep that role; new users are created with the role they are given.
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'admin';
-- 1 after a reset: the one-time password must be changed before anything else.
ALTER TABLE users ADD COLUMN must_change_password BIGINT NOT NULL DEFAULT 0;
-- Comma-separated scopes (read, sync, admin). NULL for keys made before scopes existed:
-- the server gives them `admin` at start and says so in its log.
ALTER TABLE api_keys ADD COLUMN scopes TEXT;
