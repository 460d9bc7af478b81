-- Keys that sign access tokens (GATEHOUSE_ACCESS_TOKENS=jwt); see services/identity/signing_keys.py.
-- `public_jwk` is what the JWK Set publishes. `private_sealed` is the private JWK sealed with
-- AES-256-GCM under a key derived from GATEHOUSE_SIGNING_KEY_SECRET and bound to its kid:
-- unreadable without that setting. A key signs from `activates_at` until a newer key
-- activates, and verifies until `retires_at` (set once its successor signs: the successor's
-- activation plus the token lifetime and a leeway); housekeeping then deletes it.
CREATE TABLE signing_keys (
    kid            text PRIMARY KEY,
    alg            text NOT NULL CHECK (alg IN ('EdDSA', 'ES256')),
    public_jwk     jsonb NOT NULL,
    private_sealed bytea NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    activates_at   timestamptz NOT NULL,
    retires_at     timestamptz
);
CREATE INDEX signing_keys_activation ON signing_keys (activates_at);
