-- Staff supply: the staff registry's groups and skills, posts that need
-- staff, assignments (never two at once for one person, whichever response
-- asks), volunteer drives, passes, supplier stock and restock shipments.

-- btree_gist lets one exclusion constraint compare a staff ID for equality
-- and shift ranges for overlap.
CREATE EXTENSION IF NOT EXISTS btree_gist;

ALTER TABLE staff
    ADD COLUMN group_code      text    NOT NULL DEFAULT '',
    ADD COLUMN skills          text[]  NOT NULL DEFAULT '{}',
    -- The longest a person works in 24 hours.
    ADD COLUMN max_shift_hours integer NOT NULL DEFAULT 12 CHECK (max_shift_hours BETWEEN 1 AND 24),
    -- Volunteers who signed up during a response are registered for it.
    ADD COLUMN signed_up_for   text;

-- A post a supply step needs staffed: a sampling point, a community, a
-- supplier or a checkpoint, with how many people, which roles and the shift.
CREATE TABLE staff_posts (
    id        bigserial PRIMARY KEY,
    incident  text    NOT NULL,
    step      text    NOT NULL,
    post      text    NOT NULL,
    kind      text    NOT NULL CHECK (kind IN ('sampling-point', 'community', 'supplier', 'checkpoint')),
    area_id   bigint  NOT NULL REFERENCES areas (id),
    roles     text[]  NOT NULL,
    needed    integer NOT NULL CHECK (needed BETWEEN 0 AND 1000),
    shift     tstzrange NOT NULL CHECK (NOT isempty(shift)),
    hours     numeric(5, 2) NOT NULL CHECK (hours > 0 AND hours <= 24),
    UNIQUE (step, post)
);

-- A person sent to a post for a shift. A booking is notified until its
-- holder acknowledges it; one not acknowledged in time lapses and its post
-- is filled again.
CREATE TABLE staff_assignments (
    id              bigserial PRIMARY KEY,
    post_id         bigint NOT NULL REFERENCES staff_posts (id),
    incident        text   NOT NULL,
    step            text   NOT NULL,
    staff_id        bigint NOT NULL REFERENCES staff (id),
    shift           tstzrange NOT NULL,
    -- The shift's length in scenario hours, against the person's limit.
    hours           numeric(5, 2) NOT NULL CHECK (hours > 0),
    state           text   NOT NULL DEFAULT 'notified' CHECK (state IN ('notified', 'acknowledged', 'lapsed', 'released')),
    ack_by          timestamptz NOT NULL,
    reminded_at     timestamptz,
    acknowledged_at timestamptz,
    ended_at        timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- Nobody is booked twice at the same time, whichever response asks.
    CONSTRAINT staff_one_place_at_a_time EXCLUDE USING gist (staff_id WITH =, shift WITH &&)
        WHERE (state IN ('notified', 'acknowledged'))
);
CREATE INDEX staff_assignments_step ON staff_assignments (step, state);
CREATE INDEX staff_assignments_post ON staff_assignments (post_id) WHERE state IN ('notified', 'acknowledged');

-- Volunteers sign up for a response's area until the quota is reached or
-- the drive closes.
CREATE TABLE volunteer_drives (
    incident  text    NOT NULL,
    area_id   bigint  NOT NULL REFERENCES areas (id),
    step      text    NOT NULL,
    quota     integer NOT NULL CHECK (quota BETWEEN 0 AND 100000),
    closes_at timestamptz NOT NULL,
    PRIMARY KEY (incident, area_id)
);

CREATE TABLE volunteer_signups (
    incident   text   NOT NULL,
    area_id    bigint NOT NULL,
    staff_id   bigint NOT NULL REFERENCES staff (id),
    -- The sign-up's key (e.g. a form submission ID): the same sign-up sent
    -- twice is taken once.
    signup_key text   NOT NULL,
    signed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (incident, signup_key),
    FOREIGN KEY (incident, area_id) REFERENCES volunteer_drives (incident, area_id)
);

-- A pass lets a person or a vehicle move in an area during a window. Passes
-- of an incident are revoked when the last seal they were needed for is
-- lifted.
CREATE TABLE passes (
    id             bigserial PRIMARY KEY,
    code           text   NOT NULL UNIQUE,
    incident       text   NOT NULL,
    holder_kind    text   NOT NULL CHECK (holder_kind IN ('staff', 'vehicle')),
    staff_id       bigint REFERENCES staff (id),
    plate          text,
    area_id        bigint NOT NULL REFERENCES areas (id),
    valid          tstzrange NOT NULL CHECK (NOT isempty(valid) AND upper(valid) - lower(valid) <= interval '31 days'),
    -- What the pass was issued for (an assignment, a shipment): issuing
    -- again for the same purpose returns the same pass.
    issued_for     text   NOT NULL,
    issued_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    revoked_reason text,
    CHECK ((holder_kind = 'staff') = (staff_id IS NOT NULL)),
    CHECK ((holder_kind = 'vehicle') = (plate IS NOT NULL)),
    UNIQUE (incident, issued_for)
);
CREATE INDEX passes_incident_area ON passes (incident, area_id) WHERE revoked_at IS NULL;

-- Commodities a supplier stocks; the per-capita daily need is a runbook
-- parameter.
CREATE TABLE commodities (
    code text PRIMARY KEY,
    name text NOT NULL
);
INSERT INTO commodities (code, name) VALUES
    ('grain', 'Grain'), ('oil', 'Cooking oil'), ('meat', 'Meat'),
    ('eggs', 'Eggs'), ('vegetables', 'Vegetables'), ('milk', 'Milk');

-- Which area a supplier (a supermarket or market) feeds.
CREATE TABLE suppliers (
    site_id bigint PRIMARY KEY REFERENCES sites (id),
    area_id bigint NOT NULL REFERENCES areas (id)
);
CREATE INDEX suppliers_area ON suppliers (area_id);

CREATE TABLE supplier_stock (
    site_id    bigint NOT NULL REFERENCES suppliers (site_id),
    commodity  text   NOT NULL REFERENCES commodities (code),
    tonnes     numeric(12, 3) NOT NULL CHECK (tonnes >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site_id, commodity)
);

-- A restock order and its shipment to a supplier, confirmed on delivery.
CREATE TABLE shipments (
    id               bigserial PRIMARY KEY,
    incident         text   NOT NULL,
    step             text   NOT NULL,
    area_id          bigint NOT NULL REFERENCES areas (id),
    site_id          bigint NOT NULL REFERENCES suppliers (site_id),
    commodity        text   NOT NULL REFERENCES commodities (code),
    seq              integer NOT NULL CHECK (seq > 0),
    tonnes           numeric(12, 3) NOT NULL CHECK (tonnes > 0),
    state            text   NOT NULL DEFAULT 'ordered' CHECK (state IN ('ordered', 'late', 'delivered')),
    ordered_at       timestamptz NOT NULL,
    due_at           timestamptz NOT NULL,
    delivered_at     timestamptz,
    delivered_tonnes numeric(12, 3) CHECK (delivered_tonnes > 0),
    delivered_by     text,
    escalated_at     timestamptz,
    UNIQUE (step, area_id, commodity, seq)
);
-- One open order per area and commodity of a step.
CREATE UNIQUE INDEX shipments_one_open ON shipments (step, area_id, commodity) WHERE state IN ('ordered', 'late');
