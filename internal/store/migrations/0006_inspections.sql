-- Inspection follow-up: the discipline office's rounds over sub-districts and
-- key sites, every finding tracked until it is rectified, and the talks with
-- the people responsible.

-- The units a finding can be laid at: each sub-district's office and the
-- departments the runbook names, with the post of the person responsible.
-- Posts, never personal names: they appear in notices and reports.
CREATE TABLE inspection_units (
    incident text NOT NULL,
    code     text NOT NULL,
    name     text NOT NULL,
    kind     text NOT NULL CHECK (kind IN ('sub-district', 'department')),
    person   text NOT NULL,
    PRIMARY KEY (incident, code)
);

CREATE TABLE inspection_rounds (
    id          bigserial PRIMARY KEY,
    incident    text NOT NULL,
    step        text NOT NULL,
    round       integer NOT NULL CHECK (round > 0),
    workflow_id text NOT NULL,
    opened_at   timestamptz NOT NULL DEFAULT now(),
    closed_at   timestamptz,
    UNIQUE (incident, step, round)
);

-- One row per site of a round: the sub-districts themselves and the key
-- sites, checkpoints and sampling points the runbook names.
CREATE TABLE inspection_sites (
    round_id     bigint NOT NULL REFERENCES inspection_rounds (id),
    site         text NOT NULL,
    name         text NOT NULL,
    kind         text NOT NULL,
    sub_district text NOT NULL,
    unit         text NOT NULL,
    inspector    text NOT NULL,
    reported_at  timestamptz,
    reported_by  text,
    findings     integer NOT NULL DEFAULT 0,
    PRIMARY KEY (round_id, site)
);

-- A finding, from an inspector's report or a failed compliance check. The
-- key is the business key: round, site and place in the report, or the
-- compliance check that failed.
CREATE TABLE findings (
    id           bigserial PRIMARY KEY,
    key          text NOT NULL UNIQUE,
    incident     text NOT NULL,
    round_id     bigint REFERENCES inspection_rounds (id),
    source       text NOT NULL CHECK (source IN ('inspection', 'compliance')),
    site         text NOT NULL,
    sub_district text NOT NULL,
    unit         text NOT NULL,
    category     text NOT NULL,
    severity     text NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
    description  text NOT NULL,
    inspector    text NOT NULL,
    state        text NOT NULL DEFAULT 'open'
                 CHECK (state IN ('open', 'assigned', 'rectified', 'reopened', 'closed', 'withdrawn')),
    repeat       boolean NOT NULL DEFAULT false,
    overdue      boolean NOT NULL DEFAULT false,
    escalated    boolean NOT NULL DEFAULT false,
    reopened     integer NOT NULL DEFAULT 0,
    deadline_at  timestamptz,
    opened_at    timestamptz NOT NULL DEFAULT now(),
    rectified_at timestamptz,
    closed_at    timestamptz,
    -- followed_by is the incident whose inspection follows the finding:
    -- its own for a reported finding; for one a failed compliance check
    -- opened, the first inspection over its sub-district that claims it.
    followed_by  text
);
CREATE INDEX findings_incident ON findings (incident, id);
CREATE INDEX findings_followed_by ON findings (followed_by, id);
CREATE INDEX findings_unclaimed ON findings (sub_district) WHERE followed_by IS NULL;
CREATE INDEX findings_repeat ON findings (unit, category);

-- A talk with the person responsible for a unit, about an overdue or a
-- repeated finding; once per finding and reason.
CREATE TABLE inspection_talks (
    id         bigserial PRIMARY KEY,
    incident   text NOT NULL,
    finding_id bigint NOT NULL REFERENCES findings (id),
    unit       text NOT NULL,
    person     text NOT NULL,
    reason     text NOT NULL CHECK (reason IN ('overdue', 'repeat')),
    at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (finding_id, reason)
);
