-- An authenticator app (TOTP, RFC 6238) per user: pending until a first code confirms it.
-- `secret_sealed`: AES-256-GCM under a key derived from GATEHOUSE_TOTP_KEY, bound to the user
-- (services/identity/authenticator.py). `last_step`: the time step of the last code accepted,
-- moved forward only (compare-and-set), so a code is accepted once.
CREATE TABLE totp_authenticators (
    user_id       bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_sealed bytea NOT NULL,
    confirmed_at  timestamptz,
    last_step     bigint,
    created_at    timestamptz NOT NULL DEFAULT now()
);
