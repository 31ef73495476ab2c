-- A notice written from a message of the catalogue keeps the message's key
-- and arguments, so the dispatcher renders its body in each route's locale;
-- the English text in body stays the fallback.
ALTER TABLE notices
    ADD COLUMN message_key text,
    ADD COLUMN message_args jsonb NOT NULL DEFAULT '{}';
