-- Users: the record replies show. `id` is internal and never leaves the service;
-- `public_id` is what replies and events carry.
CREATE TABLE users (
    id             bigserial PRIMARY KEY,
    public_id      text NOT NULL,
    username       text,
    email          text,                 -- normalised (lower-cased) by the service
    phone          text,                 -- E.164
    email_verified boolean NOT NULL DEFAULT false,
    phone_verified boolean NOT NULL DEFAULT false,
    properties     jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (username IS NOT NULL OR email IS NOT NULL OR phone IS NOT NULL)
);
-- The service maps a UniqueViolationError to a reply by these index names.
CREATE UNIQUE INDEX users_public_id_key ON users (public_id);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE UNIQUE INDEX users_phone_key ON users (phone);

-- Credentials live apart from the user record so no query that builds a reply touches them.
CREATE TABLE credentials (
    user_id       bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    password_hash text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Sessions: only the SHA-256 of the 256-bit token is stored.
CREATE TABLE sessions (
    id                  bigserial PRIMARY KEY,
    public_id           text NOT NULL UNIQUE,
    user_id             bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash          bytea NOT NULL UNIQUE,
    method              text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    expires_at          timestamptz NOT NULL,   -- sliding
    absolute_expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (absolute_expires_at);

-- Remember tokens for auto-login: single use, rotated on each auto-login, tied to the
-- session they were issued with so that logging that session out disables them.
CREATE TABLE remember_tokens (
    token_hash        bytea PRIMARY KEY,
    user_id           bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_public_id text NOT NULL,
    expires_at        timestamptz NOT NULL
);
CREATE INDEX remember_tokens_user ON remember_tokens (user_id);
CREATE INDEX remember_tokens_session ON remember_tokens (session_public_id);

-- Password reset tokens (Monaca sendPasswordResetToken): hashed, short-lived, single use;
-- one live token per user (a new one replaces the old).
CREATE TABLE reset_tokens (
    user_id    bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    token_hash bytea NOT NULL,
    expires_at timestamptz NOT NULL
);

-- Login throttling: failures per account (or per unknown identifier, so a throttled reply
-- never tells whether an account exists), in a fixed window that starts at the first one.
CREATE TABLE login_failures (
    account_key  text PRIMARY KEY,
    failures     int NOT NULL,
    window_start timestamptz NOT NULL
);
