-- One booking per person: nobody is booked in two places at the same time,
-- across supply assignments and checkpoint duty, whichever response asks.
--
-- Within one kind the database already refuses a double booking: the
-- exclusion constraint staff_one_place_at_a_time for supply assignments,
-- the unique index checkpoint_staff_one_post for checkpoint duty. Across
-- the two, these triggers refuse a booking that overlaps an active booking
-- of the other kind:
--
--   supply assignment  active while notified or acknowledged; spans its shift
--   checkpoint duty    active until released; spans [assigned_at, infinity)
--
-- Each trigger first locks the person's staff row and only then looks at
-- the other table, in a statement of its own (a fresh snapshot under READ
-- COMMITTED, the store's isolation level). Checkpoint duty takes FOR UPDATE
-- and a supply assignment FOR KEY SHARE (the lock its foreign key check
-- takes anyway); the two conflict, so a checkpoint duty and a supply
-- booking of one person are made one after the other and the second sees
-- the first. Two supply bookings of one person do not wait for each other
-- here: the exclusion constraint already settles those.
--
-- A refused booking raises SQLSTATE 23M01 (class 23, integrity constraint
-- violation) with constraint name one_booking_per_person; the message
-- names the person's staff code and the booking in the way.

CREATE FUNCTION checkpoint_staff_one_booking() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    person text;
    clash  record;
BEGIN
    SELECT code INTO person FROM staff WHERE id = NEW.staff_id FOR UPDATE;
    SELECT x.id, x.incident, p.post, lower(x.shift) AS shift_from, upper(x.shift) AS shift_to
      INTO clash
      FROM staff_assignments x JOIN staff_posts p ON p.id = x.post_id
     WHERE x.staff_id = NEW.staff_id
       AND x.state IN ('notified', 'acknowledged')
       AND x.shift && tstzrange(NEW.assigned_at, NULL)
     ORDER BY lower(x.shift), x.id
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'staff % is already booked: supply assignment % to % (incident %) from % to %',
                person, clash.id, clash.post, clash.incident, clash.shift_from, clash.shift_to
            USING ERRCODE = '23M01',
                  CONSTRAINT = 'one_booking_per_person',
                  TABLE = TG_TABLE_NAME,
                  DETAIL = format('Checkpoint duty from %s overlaps the shift of assignment %s.', NEW.assigned_at, clash.id),
                  HINT = 'Pick someone free, or release the assignment first.';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER checkpoint_staff_one_booking_ins AFTER INSERT ON checkpoint_staff
    FOR EACH ROW WHEN (NEW.released_at IS NULL)
    EXECUTE FUNCTION checkpoint_staff_one_booking();
-- A duty that becomes active again, changes hands or starts earlier is
-- checked again; other updates are not.
CREATE TRIGGER checkpoint_staff_one_booking_upd AFTER UPDATE ON checkpoint_staff
    FOR EACH ROW WHEN (NEW.released_at IS NULL AND (OLD.released_at IS NOT NULL
                       OR OLD.staff_id <> NEW.staff_id OR NEW.assigned_at < OLD.assigned_at))
    EXECUTE FUNCTION checkpoint_staff_one_booking();

CREATE FUNCTION staff_assignments_one_booking() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    person text;
    clash  record;
BEGIN
    SELECT code INTO person FROM staff WHERE id = NEW.staff_id FOR KEY SHARE;
    SELECT c.incident, a.code AS area, g.code AS gate, cs.assigned_at
      INTO clash
      FROM checkpoint_staff cs
      JOIN checkpoints c ON c.id = cs.checkpoint_id
      JOIN gates g ON g.id = c.gate_id
      JOIN areas a ON a.id = c.area_id
     WHERE cs.staff_id = NEW.staff_id
       AND cs.released_at IS NULL
       AND tstzrange(cs.assigned_at, NULL) && NEW.shift
     ORDER BY cs.assigned_at, cs.checkpoint_id
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'staff % is already booked: on duty at checkpoint %/% (incident %) since %',
                person, clash.area, clash.gate, clash.incident, clash.assigned_at
            USING ERRCODE = '23M01',
                  CONSTRAINT = 'one_booking_per_person',
                  TABLE = TG_TABLE_NAME,
                  DETAIL = format('The shift %s of assignment %s overlaps the checkpoint duty.', NEW.shift, NEW.id),
                  HINT = 'Pick someone free, or lift the seal first.';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER staff_assignments_one_booking_ins AFTER INSERT ON staff_assignments
    FOR EACH ROW WHEN (NEW.state IN ('notified', 'acknowledged'))
    EXECUTE FUNCTION staff_assignments_one_booking();
-- Acknowledging keeps the booking as it was and is not checked again.
CREATE TRIGGER staff_assignments_one_booking_upd AFTER UPDATE ON staff_assignments
    FOR EACH ROW WHEN (NEW.state IN ('notified', 'acknowledged') AND (OLD.state NOT IN ('notified', 'acknowledged')
                       OR OLD.staff_id <> NEW.staff_id OR NOT (OLD.shift @> NEW.shift)))
    EXECUTE FUNCTION staff_assignments_one_booking();
