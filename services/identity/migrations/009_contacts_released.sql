-- A contact counts once proved (services/identity/claims.py): proving an email or phone takes
-- it from an account that only claimed it (stored it unverified). An account that loses its
-- last identifier that way keeps its id, data and password but cannot be named at sign-in
-- any more; `released_at` marks it for operators, and the check lets it exist.
ALTER TABLE users ADD COLUMN released_at timestamptz;
ALTER TABLE users DROP CONSTRAINT users_check;
ALTER TABLE users ADD CONSTRAINT users_identifier CHECK (
    username IS NOT NULL OR email IS NOT NULL OR phone IS NOT NULL OR released_at IS NOT NULL
);
