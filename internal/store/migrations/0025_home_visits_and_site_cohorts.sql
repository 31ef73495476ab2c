-- Kinds of home visit (docs/scenario.md, home_visit_kinds): a home-visit
-- resident's kind, as the scenario declares it, and the kind's priority.
-- Home visits are made, and listed, by priority (1 first); a resident of
-- no kind (priority NULL) comes after every kind.
ALTER TABLE residents
    ADD COLUMN home_visit_kind text NOT NULL DEFAULT '',
    ADD COLUMN home_visit_priority int CHECK (home_visit_priority > 0);

-- Cohorts per site (docs/scenario.md, a site's cohorts): a campus person's
-- campus or school and their cohort's rank in its calling order (NULL:
-- after the listed cohorts). A round counts a site's people by cohort
-- apart from everyone else's, with the site's order.
ALTER TABLE residents
    ADD COLUMN site text NOT NULL DEFAULT '',
    ADD COLUMN cohort_rank int CHECK (cohort_rank > 0);
ALTER TABLE round_cohorts
    ADD COLUMN site text NOT NULL DEFAULT '',
    ADD COLUMN site_name text NOT NULL DEFAULT '',
    ADD COLUMN rank int CHECK (rank > 0),
    DROP CONSTRAINT round_cohorts_pkey,
    ADD PRIMARY KEY (round_id, site, cohort);
