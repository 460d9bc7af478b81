-- Metadata hooks set (seed 002), kept apart from the user's own `properties`:
-- app_metadata is the application's, user_metadata the user's preferences.
ALTER TABLE users
    ADD COLUMN app_metadata  jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN user_metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN mfa_enabled   boolean NOT NULL DEFAULT false;

-- The hook registry: each hook worker announces (trigger, name, priority) at start.
-- Identity calls the hooks of a trigger in (priority, name) order.
CREATE TABLE hooks (
    trigger       text NOT NULL,
    name          text NOT NULL,
    priority      int NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (trigger, name)
);

-- Each hook's cache: ephemeral, capped per hook (the service evicts beyond the cap).
CREATE TABLE hook_cache (
    hook       text NOT NULL,
    key        text NOT NULL,
    value      text NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (hook, key)
);

-- Two-factor challenges: a login that passed the password but still owes a code.
-- Only the SHA-256 of the token is stored; consumed by DELETE ... RETURNING (single use).
CREATE TABLE mfa_challenges (
    token_hash bytea PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    method     text NOT NULL,
    remember   boolean NOT NULL,
    client     jsonb NOT NULL DEFAULT '{}'::jsonb,
    contact    text,                 -- `email` or `phone`: where the code was sent
    attempts   int NOT NULL DEFAULT 0,
    expires_at timestamptz NOT NULL
);
CREATE INDEX mfa_challenges_user ON mfa_challenges (user_id);

-- The contact a signed-in user is verifying: one at a time, so starting again with another
-- number replaces ("voids") the earlier one.
CREATE TABLE contact_verifications (
    user_id    bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    kind       text NOT NULL,
    value      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
