-- Compliance checks made by a response's sweeps (leaders going gate to gate)
-- are kept apart from a seal's own periodic rounds.
ALTER TABLE compliance_checks ADD COLUMN sweep text NOT NULL DEFAULT '';
ALTER TABLE compliance_checks DROP CONSTRAINT compliance_checks_incident_checkpoint_id_round_key;
ALTER TABLE compliance_checks ADD CONSTRAINT compliance_checks_once UNIQUE (incident, checkpoint_id, sweep, round);
