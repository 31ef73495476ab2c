-- The language a scenario's district reads (its `locale`), and the one each
-- response was opened in: approval questions, escalations and the board
-- are shown in it unless the reader asks for another. A response keeps the
-- locale it was opened with, even when its scenario is loaded again with
-- another.
CREATE TABLE scenario_locales (
    scenario text PRIMARY KEY,
    locale   text NOT NULL CHECK (locale IN ('en', 'zh-CN'))
);

ALTER TABLE responses
    ADD COLUMN locale text NOT NULL DEFAULT 'en' CHECK (locale IN ('en', 'zh-CN'));
