-- Checkpoint staff work shifts. A seal relieves its checkpoints' staff when
-- a shift ends and books others for the next one, so a person may stand at
-- the same gate again on a later shift: the shift joins the key. The
-- one-booking rule (checkpoint_staff_one_post and the triggers of 0008)
-- still looks only at duty not yet released, so it holds on every shift.
ALTER TABLE checkpoint_staff ADD COLUMN shift integer NOT NULL DEFAULT 1 CHECK (shift >= 1);
ALTER TABLE checkpoint_staff DROP CONSTRAINT checkpoint_staff_pkey;
ALTER TABLE checkpoint_staff ADD PRIMARY KEY (checkpoint_id, staff_id, shift);
