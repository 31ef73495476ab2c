-- Published runbook definitions. A name's versions count up from 1; the
-- text is kept as written (the YAML) with its sha256, so publishing the same
-- text again finds the version it already has. A response records the
-- version it started with.

CREATE TABLE runbooks (
    name         text NOT NULL,
    version      integer NOT NULL CHECK (version > 0),
    title        text NOT NULL,
    source       text NOT NULL,
    digest       text NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now(),
    published_by text NOT NULL,
    PRIMARY KEY (name, version),
    UNIQUE (name, digest)
);

ALTER TABLE responses ADD COLUMN runbook_version integer;
