-- The factors a sign-in proved (`pwd`, `otp`, `mfa`, `reset`): a session knows how it was
-- opened, a remember token signs in again only with the factors of the sign-in that issued
-- it, and an mfa challenge carries the factors proven before the code. Rows from before this
-- migration proved nothing the two-factor policy accepts, so they must sign in again.
ALTER TABLE sessions ADD COLUMN factors text[] NOT NULL DEFAULT '{}';
ALTER TABLE remember_tokens ADD COLUMN factors text[] NOT NULL DEFAULT '{}';
ALTER TABLE mfa_challenges ADD COLUMN factors text[] NOT NULL DEFAULT '{}';

-- Several outstanding reset tokens per user: a new request no longer voids the last, so a
-- flood of requests cannot block a genuine reset. A reset or a password change voids them all.
ALTER TABLE reset_tokens DROP CONSTRAINT reset_tokens_pkey;
ALTER TABLE reset_tokens ADD PRIMARY KEY (token_hash);
ALTER TABLE reset_tokens ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX reset_tokens_user ON reset_tokens (user_id);

-- Password reset requests per hour, per identifier given (known or not, so the cap reveals
-- nothing) and per account (over its cap nothing is sent, and the reply does not change).
CREATE TABLE reset_requests (
    key          text PRIMARY KEY,
    requests     int NOT NULL,
    window_start timestamptz NOT NULL
);
