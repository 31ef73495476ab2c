-- Commodities a scenario adds to the built-in six (medicine, bottled water,
-- ...), with their daily need per person in kilograms: a supply check counts
-- it unless the step's own need names the commodity. The built-in ones keep
-- no default: their need is the staff-supply step's `need` parameter.
ALTER TABLE commodities
    ADD COLUMN need_kg  numeric CHECK (need_kg >= 0 AND need_kg <= 10),
    ADD COLUMN scenario text;
