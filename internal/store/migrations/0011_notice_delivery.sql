-- Delivery of notices. The notices table stays the outbox; a dispatcher routes
-- each notice to the channels its district configures (one delivery per
-- notice, channel and target) and records every attempt with its receipt.
-- Deliveries are claimed with FOR UPDATE SKIP LOCKED and a lease that expires,
-- so a dispatcher killed mid-batch leaves its deliveries to the next one.

ALTER TABLE notices ADD COLUMN routed_at timestamptz;
CREATE INDEX notices_unrouted ON notices (id) WHERE routed_at IS NULL;
CREATE INDEX notices_incident ON notices (incident, id);

CREATE TABLE notice_deliveries (
    id              bigserial PRIMARY KEY,
    notice_id       bigint NOT NULL REFERENCES notices (id),
    -- The channel's name in the routes file, its type, and the target inside
    -- it (an area code for group robots, empty for a single endpoint).
    channel         text NOT NULL,
    channel_type    text NOT NULL CHECK (channel_type IN ('webhook', 'wecom', 'dingtalk', 'smtp', 'sms', 'none')),
    target          text NOT NULL DEFAULT '',
    audience_class  text NOT NULL,
    locale          text NOT NULL,
    -- The key the receiver deduplicates on: the same on every attempt.
    idempotency_key text NOT NULL UNIQUE,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'delivered', 'undelivered')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_owner     text,
    lease_until     timestamptz,
    reason          text NOT NULL DEFAULT '',
    receipt_id      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    delivered_at    timestamptz,
    UNIQUE (notice_id, channel, target)
);
CREATE INDEX notice_deliveries_due ON notice_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX notice_deliveries_notice ON notice_deliveries (notice_id);

-- Every attempt at a delivery and what the receiver answered. Rows are only
-- added: the attempt number is the delivery's claim count, so a retried
-- record of the same attempt lands once.
CREATE TABLE notice_attempts (
    id          bigserial PRIMARY KEY,
    delivery_id bigint NOT NULL REFERENCES notice_deliveries (id),
    attempt     integer NOT NULL CHECK (attempt > 0),
    worker      text NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT now(),
    status      integer NOT NULL DEFAULT 0,
    receipt_id  text NOT NULL DEFAULT '',
    outcome     text NOT NULL CHECK (outcome IN ('sent', 'delivered', 'retry', 'undelivered')),
    error       text NOT NULL DEFAULT '',
    UNIQUE (delivery_id, attempt)
);
