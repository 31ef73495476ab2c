-- The area tree, the records of a seal and the append-only step event log.

CREATE TABLE areas (
    id           bigserial PRIMARY KEY,
    code         text NOT NULL UNIQUE,
    path         text NOT NULL UNIQUE,
    parent_id    bigint REFERENCES areas (id),
    level        text NOT NULL CHECK (level IN ('district', 'sub-district', 'community', 'compound')),
    name         text NOT NULL,
    population   integer NOT NULL DEFAULT 0 CHECK (population >= 0),
    buildings    integer NOT NULL DEFAULT 0 CHECK (buildings >= 0),
    public_areas text[] NOT NULL DEFAULT '{}',
    scenario     text NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX areas_parent ON areas (parent_id);

CREATE TABLE gates (
    id       bigserial PRIMARY KEY,
    area_id  bigint NOT NULL REFERENCES areas (id),
    code     text NOT NULL,
    name     text NOT NULL,
    entrance boolean NOT NULL DEFAULT false,
    UNIQUE (area_id, code)
);

CREATE TABLE roads (
    id       bigserial PRIMARY KEY,
    area_id  bigint NOT NULL REFERENCES areas (id),
    code     text NOT NULL,
    name     text NOT NULL,
    entrance boolean NOT NULL DEFAULT false,
    UNIQUE (area_id, code)
);

CREATE TABLE sites (
    id                bigserial PRIMARY KEY,
    code              text NOT NULL UNIQUE,
    area_id           bigint NOT NULL REFERENCES areas (id),
    kind              text NOT NULL,
    name              text NOT NULL,
    population        integer NOT NULL DEFAULT 0 CHECK (population >= 0),
    capacity_per_hour integer NOT NULL DEFAULT 0 CHECK (capacity_per_hour >= 0)
);

CREATE TABLE staff (
    id      bigserial PRIMARY KEY,
    code    text NOT NULL UNIQUE,
    area_id bigint NOT NULL REFERENCES areas (id),
    role    text NOT NULL,
    name    text NOT NULL
);
CREATE INDEX staff_area ON staff (area_id);

-- One response per incident; the runbook that opened it and its level.
CREATE TABLE responses (
    incident   text PRIMARY KEY,
    runbook    text NOT NULL,
    level      integer NOT NULL DEFAULT 1,
    area_path  text NOT NULL,
    state      text NOT NULL DEFAULT 'open',
    opened_at  timestamptz NOT NULL DEFAULT now(),
    closed_at  timestamptz
);

-- Every step transition, in order. Rows are never changed or removed; the
-- dedup key makes a retried activity's write land once.
CREATE TABLE step_events (
    id          bigserial PRIMARY KEY,
    incident    text NOT NULL,
    workflow_id text NOT NULL,
    step        text NOT NULL,
    state       text NOT NULL,
    reason      text NOT NULL DEFAULT '',
    actor       text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    dedup_key   text NOT NULL UNIQUE
);
CREATE INDEX step_events_workflow ON step_events (workflow_id, id);
CREATE INDEX step_events_incident ON step_events (incident, id);

CREATE FUNCTION step_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'step_events is append-only';
END $$;
CREATE TRIGGER step_events_append_only BEFORE UPDATE OR DELETE ON step_events
    FOR EACH ROW EXECUTE FUNCTION step_events_append_only();
CREATE TRIGGER step_events_no_truncate BEFORE TRUNCATE ON step_events
    FOR EACH STATEMENT EXECUTE FUNCTION step_events_append_only();

-- A checkpoint at a compound gate for an incident. The entrance gate lets
-- residents through with checks; the others stay shut.
CREATE TABLE checkpoints (
    id             bigserial PRIMARY KEY,
    incident       text NOT NULL,
    gate_id        bigint NOT NULL REFERENCES gates (id),
    area_id        bigint NOT NULL REFERENCES areas (id),
    mode           text NOT NULL CHECK (mode IN ('entry', 'closed')),
    required_staff integer NOT NULL CHECK (required_staff >= 0),
    opened_at      timestamptz NOT NULL DEFAULT now(),
    closed_at      timestamptz,
    UNIQUE (incident, gate_id)
);

CREATE TABLE checkpoint_staff (
    checkpoint_id bigint NOT NULL REFERENCES checkpoints (id),
    staff_id      bigint NOT NULL REFERENCES staff (id),
    assigned_at   timestamptz NOT NULL DEFAULT now(),
    released_at   timestamptz,
    PRIMARY KEY (checkpoint_id, staff_id)
);
-- Nobody stands at two checkpoints at once, whichever response asks.
CREATE UNIQUE INDEX checkpoint_staff_one_post ON checkpoint_staff (staff_id) WHERE released_at IS NULL;

-- A road section closed by the seal of an area. A road is closed while any
-- closure of it is not reopened.
CREATE TABLE road_closures (
    id          bigserial PRIMARY KEY,
    incident    text NOT NULL,
    road_id     bigint NOT NULL REFERENCES roads (id),
    area_id     bigint NOT NULL REFERENCES areas (id),
    closed_at   timestamptz NOT NULL DEFAULT now(),
    reopened_at timestamptz,
    UNIQUE (incident, area_id, road_id)
);

-- The outbox: notices to publish to residents, staff or departments.
CREATE TABLE notices (
    id           bigserial PRIMARY KEY,
    dedup_key    text NOT NULL UNIQUE,
    incident     text NOT NULL,
    area_id      bigint REFERENCES areas (id),
    audience     text NOT NULL,
    kind         text NOT NULL,
    body         text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX notices_unpublished ON notices (id) WHERE published_at IS NULL;

CREATE TABLE disinfection_tasks (
    id         bigserial PRIMARY KEY,
    incident   text NOT NULL,
    area_id    bigint NOT NULL REFERENCES areas (id),
    zone       text NOT NULL,
    round      integer NOT NULL CHECK (round > 0),
    state      text NOT NULL DEFAULT 'done' CHECK (state IN ('assigned', 'done')),
    created_at timestamptz NOT NULL DEFAULT now(),
    done_at    timestamptz,
    UNIQUE (incident, area_id, zone, round)
);

-- A periodic check of a checkpoint's essentials: staffed, in the right mode,
-- its roads still closed.
CREATE TABLE compliance_checks (
    id            bigserial PRIMARY KEY,
    incident      text NOT NULL,
    checkpoint_id bigint NOT NULL REFERENCES checkpoints (id),
    round         integer NOT NULL CHECK (round > 0),
    passed        boolean NOT NULL,
    staff_on_duty integer NOT NULL,
    problems      text[] NOT NULL DEFAULT '{}',
    checked_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (incident, checkpoint_id, round)
);
