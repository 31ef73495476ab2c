-- A district is a namespace (DESIGN.md §2): the codes of areas below the
-- district, of staff, sites (suppliers with them) and of the commodities a
-- scenario adds are unique inside their district only, so loading a second
-- district that reuses the docs' own codes (teacher, supermarket, market)
-- never takes the first district's rows. A district is the root of the
-- area tree: the first segment of every path, unique because paths are.

ALTER TABLE areas ADD COLUMN district text GENERATED ALWAYS AS (split_part(path, '/', 1)) STORED;
ALTER TABLE areas DROP CONSTRAINT areas_code_key;
ALTER TABLE areas ADD CONSTRAINT areas_district_code_key UNIQUE (district, code);
CREATE INDEX areas_code ON areas (code);

-- A staff member's or a site's district is always its area's. The trigger
-- keeps it so whoever writes the row (a scenario load, a volunteer's
-- sign-up), and the unique constraints below rely on it.
CREATE FUNCTION district_of_area() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT district INTO NEW.district FROM areas WHERE id = NEW.area_id;
    RETURN NEW;
END $$;

ALTER TABLE sites ADD COLUMN district text;
UPDATE sites s SET district = a.district FROM areas a WHERE a.id = s.area_id;
ALTER TABLE sites ALTER COLUMN district SET NOT NULL;
ALTER TABLE sites DROP CONSTRAINT sites_code_key;
ALTER TABLE sites ADD CONSTRAINT sites_district_code_key UNIQUE (district, code);
CREATE INDEX sites_code ON sites (code);
CREATE TRIGGER sites_district BEFORE INSERT OR UPDATE OF area_id ON sites
    FOR EACH ROW EXECUTE FUNCTION district_of_area();

ALTER TABLE staff ADD COLUMN district text;
UPDATE staff s SET district = a.district FROM areas a WHERE a.id = s.area_id;
ALTER TABLE staff ALTER COLUMN district SET NOT NULL;
ALTER TABLE staff DROP CONSTRAINT staff_code_key;
ALTER TABLE staff ADD CONSTRAINT staff_district_code_key UNIQUE (district, code);
CREATE INDEX staff_code ON staff (code);
CREATE TRIGGER staff_district BEFORE INSERT OR UPDATE OF area_id ON staff
    FOR EACH ROW EXECUTE FUNCTION district_of_area();

-- commodities keeps every code any supplier may stock (the foreign keys of
-- stock and shipments point at it). The name and daily need a scenario
-- gives its own commodity are its district's: two districts may add
-- "medicine" with different needs. The columns need_kg and scenario of
-- commodities are no longer read.
CREATE TABLE district_commodities (
    district text NOT NULL,
    code     text NOT NULL REFERENCES commodities (code),
    name     text NOT NULL,
    need_kg  numeric CHECK (need_kg >= 0 AND need_kg <= 10),
    scenario text NOT NULL,
    PRIMARY KEY (district, code)
);
INSERT INTO district_commodities (district, code, name, need_kg, scenario)
SELECT DISTINCT a.district, c.code, c.name, c.need_kg, c.scenario
FROM commodities c JOIN areas a ON a.scenario = c.scenario AND a.parent_id IS NULL
WHERE c.scenario IS NOT NULL;
