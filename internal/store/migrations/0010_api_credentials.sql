-- API credentials: one per client of the HTTP API, each with a role and a
-- scope. Only the SHA-256 digest of a token is kept (tokens are 256 random
-- bits, so a digest cannot be reversed by guessing); the token itself is
-- shown once, when it is made. A revoked credential stays, for the audit
-- trail; a name is used by at most one credential that is not revoked.

CREATE TABLE api_credentials (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
    role         text NOT NULL CHECK (role IN ('command', 'supervisor', 'station', 'field', 'inspector', 'admin')),
    scope        text[] NOT NULL DEFAULT '{}',
    token_sha256 bytea NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text NOT NULL,
    revoked_at   timestamptz,
    revoked_by   text
);
CREATE UNIQUE INDEX api_credentials_one_live_name ON api_credentials (name) WHERE revoked_at IS NULL;
