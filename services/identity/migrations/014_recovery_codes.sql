-- Recovery codes (services/identity/recovery.py): the unused ones of each user, as an
-- HMAC-SHA256 digest under a key derived from GATEHOUSE_TOTP_KEY, bound to the user. A code
-- is spent by deleting its row in the sign-in's transaction, so it signs in once.
CREATE TABLE recovery_codes (
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest  bytea NOT NULL,
    PRIMARY KEY (user_id, digest)
);
