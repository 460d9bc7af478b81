-- Replies stored per idempotency key, so a replayed command changes nothing.
CREATE TABLE idempotency (
    routing_key text NOT NULL,
    key         text NOT NULL,
    reply       bytea,              -- NULL while the first call is still running
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (routing_key, key)
);
CREATE INDEX idempotency_created_at ON idempotency (created_at);
