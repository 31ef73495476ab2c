-- Mass testing: the resident registry, testing rounds, their sampling
-- points and home visits, and the samples taken.

-- Prefix searches on area paths ("everything under longbao") use this index
-- whatever the database's collation.
CREATE INDEX areas_path_prefix ON areas (path text_pattern_ops);

-- A resident, known by a pseudonymous code. Workflows, logs and payloads see
-- these rows only; personal details live in resident_contacts. Codes and
-- tubes compare byte by byte (collation "C"): ingestion looks every row's
-- resident and tube up, and that is a third faster than the locale's rules.
CREATE TABLE residents (
    id         bigserial PRIMARY KEY,
    code       text COLLATE "C" NOT NULL UNIQUE,
    -- The compound, or the community for campus people. LoadResidents
    -- resolves it by joining areas (areas are never deleted); a foreign key
    -- would check it again row by row and double the time a city takes.
    area_id    bigint NOT NULL,
    building   text NOT NULL DEFAULT '',
    cohort     text NOT NULL DEFAULT 'resident',
    -- Sampled at home: elderly with limited mobility, pregnant, disabled.
    home_visit boolean NOT NULL DEFAULT false,
    scenario   text NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX residents_area ON residents (area_id);

-- Personal details. Only the authorised call-back list reads them; no
-- workflow does, and they are never logged. Rows are written by
-- LoadResidents from the residents it has just written (residents are never
-- deleted), so there is no row-by-row foreign key check.
CREATE TABLE resident_contacts (
    resident_id bigint PRIMARY KEY,
    name        text NOT NULL DEFAULT '',
    id_number   text NOT NULL DEFAULT '',
    phone       text NOT NULL DEFAULT ''
);

-- One testing round of an incident over an area.
CREATE TABLE testing_rounds (
    id         bigserial PRIMARY KEY,
    incident   text NOT NULL,
    area_id    bigint NOT NULL REFERENCES areas (id),
    round      integer NOT NULL CHECK (round > 0),
    opens_at   timestamptz NOT NULL,
    deadline   timestamptz NOT NULL CHECK (deadline > opens_at),
    closed_at  timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (incident, area_id, round)
);
CREATE INDEX testing_rounds_open ON testing_rounds (incident) WHERE closed_at IS NULL;

-- The sampling points open in a round. carried counts samples a point took
-- from compounds since moved to another point; they stay in its expected
-- figure.
CREATE TABLE round_points (
    round_id          bigint NOT NULL REFERENCES testing_rounds (id),
    site_id           bigint NOT NULL REFERENCES sites (id),
    capacity_per_hour integer NOT NULL CHECK (capacity_per_hour > 0),
    opened_at         timestamptz NOT NULL DEFAULT now(),
    carried           integer NOT NULL DEFAULT 0,
    PRIMARY KEY (round_id, site_id)
);

-- Which point serves which compound. Campus people live in their
-- community, so a community's residents are split by building ('' for a
-- compound). residents counts the unit's residents who come to a point;
-- expected is what its current point still expects of them.
CREATE TABLE round_assignments (
    round_id  bigint NOT NULL REFERENCES testing_rounds (id),
    area_id   bigint NOT NULL REFERENCES areas (id),
    building  text NOT NULL DEFAULT '',
    site_id   bigint NOT NULL,
    residents integer NOT NULL,
    expected  integer NOT NULL,
    PRIMARY KEY (round_id, area_id, building),
    FOREIGN KEY (round_id, site_id) REFERENCES round_points (round_id, site_id)
);

-- The round's population when it opened, by cohort: residents coming to
-- points and residents sampled at home.
CREATE TABLE round_cohorts (
    round_id    bigint NOT NULL REFERENCES testing_rounds (id),
    cohort      text NOT NULL,
    residents   integer NOT NULL,
    home_visits integer NOT NULL,
    PRIMARY KEY (round_id, cohort)
);

-- One tube, one resident, one round. cohort and home_visit are the
-- resident's when sampled, kept here so progress counts one table.
-- The references are checked by the ingestion statement that writes the
-- rows; foreign keys would check them again, row by row.
CREATE TABLE samples (
    tube        text COLLATE "C" PRIMARY KEY,
    round_id    bigint NOT NULL,
    resident_id bigint NOT NULL,
    -- The sampling point; null for a home visit.
    point_id    bigint,
    taken_at    timestamptz NOT NULL,
    result      text CHECK (result IN ('negative', 'positive')),
    batch       text NOT NULL,
    cohort      text NOT NULL,
    home_visit  boolean NOT NULL,
    UNIQUE (round_id, resident_id)
);
CREATE INDEX samples_point ON samples (round_id, point_id);

-- A home visit: attempt 1 when the round starts, one more for each miss.
CREATE TABLE home_visits (
    round_id    bigint NOT NULL REFERENCES testing_rounds (id),
    resident_id bigint NOT NULL REFERENCES residents (id),
    attempt     integer NOT NULL CHECK (attempt > 0),
    staff_id    bigint REFERENCES staff (id),
    state       text NOT NULL DEFAULT 'assigned' CHECK (state IN ('assigned', 'sampled', 'missed')),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (round_id, resident_id, attempt)
);

-- A batch of samples as a station sent it: its digest or given ID, and
-- what became of its rows. A re-sent batch counts its sends.
CREATE TABLE sample_batches (
    id               text PRIMARY KEY,
    incident         text NOT NULL,
    -- The round of the accepted rows, when they all belong to one.
    round_id         bigint REFERENCES testing_rounds (id),
    received_at      timestamptz NOT NULL DEFAULT now(),
    rows             integer NOT NULL,
    accepted         integer NOT NULL,
    rejected         integer NOT NULL,
    already_recorded integer NOT NULL DEFAULT 0,
    results_updated  integer NOT NULL DEFAULT 0,
    sends            integer NOT NULL DEFAULT 1,
    last_received_at timestamptz NOT NULL DEFAULT now()
);

-- Who was still missing when the round closed, for call-backs.
CREATE TABLE round_missing (
    round_id    bigint NOT NULL REFERENCES testing_rounds (id),
    resident_id bigint NOT NULL REFERENCES residents (id),
    PRIMARY KEY (round_id, resident_id)
);
