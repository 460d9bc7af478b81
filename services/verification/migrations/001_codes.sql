CREATE TABLE codes (
    id              bigserial PRIMARY KEY,
    send_to         text NOT NULL,
    scenario        text NOT NULL,
    digest          bytea NOT NULL,          -- HMAC-SHA256 of the code, never the code itself
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    attempts        int NOT NULL DEFAULT 0,
    max_attempts    int NOT NULL,
    consumed_at     timestamptz,
    voided_at       timestamptz,
    undelivered     boolean NOT NULL DEFAULT false
);
-- At most one live code per (recipient, scenario): the database, not Python, enforces it.
CREATE UNIQUE INDEX codes_one_live ON codes (send_to, scenario)
    WHERE consumed_at IS NULL AND voided_at IS NULL;
CREATE INDEX codes_recent ON codes (send_to, created_at);
