-- Late results: a sample taken during a round but uploaded after the round
-- closed is recorded against that round, taken off its missing list and
-- marked late, when it arrives within the round's late grace after the
-- close; a positive one is always taken. Constant defaults make these
-- columns cheap to add to full tables.
ALTER TABLE testing_rounds ADD COLUMN late_grace interval NOT NULL DEFAULT interval '6 hours';
ALTER TABLE samples ADD COLUMN late boolean NOT NULL DEFAULT false;
