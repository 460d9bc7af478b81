-- Issue 21 (secrets): records are bound to who asked, to what was asked, and to the key they
-- were made under (services/runtime/keys.py).

-- A recorded reply remembers the id of the key set it was sealed and MACed under: a record
-- made under another key (a rotated GATEHOUSE_REPLY_KEY) is then answered as unreadable,
-- never as a reused message id. NULL: recorded before this migration, key unknown.
ALTER TABLE replies ADD COLUMN key_id bytea;

-- Idempotency keys were scoped by command only, and kept replies in clear: one caller's key
-- could return another caller's reply. The rows kept so far cannot be told apart by caller,
-- so they go; a key is scoped by (command, AMQP user_id, key) from now on.
DROP TABLE idempotency;
CREATE TABLE idempotency (
    routing_key text NOT NULL,
    caller      text NOT NULL,      -- the AMQP user_id of the message; '' when it had none
    key         text NOT NULL,
    request_mac bytea NOT NULL,     -- HMAC of (command, caller, key, request) under a server key
    key_id      bytea NOT NULL,     -- which server key made request_mac and sealed reply
    reply       bytea,              -- sealed (AES-GCM); NULL while the first call is running
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (routing_key, caller, key)
);
CREATE INDEX idempotency_created_at ON idempotency (created_at);
