-- Every stock level a supplier reached, so the after-action report can draw
-- stock over time. supplier_stock keeps only the latest level; a trigger
-- copies each change here, whichever statement made it (a stock report, a
-- delivery or a scenario load), so no writer can forget it.
CREATE TABLE stock_history (
    id        bigserial PRIMARY KEY,
    site_id   bigint NOT NULL,
    commodity text   NOT NULL,
    tonnes    numeric(12, 3) NOT NULL,
    at        timestamptz NOT NULL
);
CREATE INDEX stock_history_site ON stock_history (site_id, at);

CREATE FUNCTION stock_history_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.tonnes = OLD.tonnes THEN
        RETURN NEW;
    END IF;
    INSERT INTO stock_history (site_id, commodity, tonnes, at)
    VALUES (NEW.site_id, NEW.commodity, NEW.tonnes, coalesce(NEW.updated_at, now()));
    RETURN NEW;
END $$;
CREATE TRIGGER supplier_stock_history AFTER INSERT OR UPDATE ON supplier_stock
    FOR EACH ROW EXECUTE FUNCTION stock_history_record();

-- Levels already recorded before this migration start the history.
INSERT INTO stock_history (site_id, commodity, tonnes, at)
SELECT site_id, commodity, tonnes, updated_at FROM supplier_stock;
