-- Kinds of home visit (docs/scenario.md, home_visit_kinds): a home-visit
-- resident's kind, as the scenario declares it, and the kind's priority.
-- Home visits are made, and listed, by priority (1 first); a resident of
-- no kind (priority NULL) comes after every kind.
ALTER TABLE residents
    ADD COLUMN home_visit_kind text NOT NULL DEFAULT '',
    ADD COLUMN home_visit_priority int CHECK (home_visit_priority > 0);
