-- Recorded replies (services/runtime/recorded_replies.py): a state-changing command's reply, written in
-- the transaction of its effect, so a redelivered message is answered instead of run again.
CREATE TABLE replies (
    routing_key text NOT NULL,
    message_id  text NOT NULL,
    request_mac bytea NOT NULL,     -- HMAC of the request under a server key
    reply       bytea NOT NULL,     -- sealed (AES-GCM) under a server key
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (routing_key, message_id)
);
CREATE INDEX replies_created_at ON replies (created_at);
