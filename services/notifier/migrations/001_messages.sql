-- One row per message id: the claim that makes a message leave at most once, and its state.
-- The recipient is stored as a SHA-256 of its normalised form (purged on deregistration)
-- plus the masked form that events carry; never the address itself, never the content.
CREATE TABLE messages (
    message_id       text PRIMARY KEY,
    channel          text NOT NULL CHECK (channel IN ('email', 'sms')),
    template         text NOT NULL,
    recipient_key    bytea NOT NULL,
    recipient_masked text NOT NULL,
    status           text NOT NULL CHECK (status IN ('sending', 'retrying', 'sent', 'failed')),
    attempts         integer NOT NULL DEFAULT 1,
    reason           text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX messages_recipient_key ON messages (recipient_key);
CREATE INDEX messages_finished ON messages (updated_at) WHERE status IN ('sent', 'failed');
