-- An account's standing, set by operators (admin.*.v1 commands). Disabled while
-- `disabled_at` is set and `disabled_until` is NULL (until enabled) or still ahead: a
-- disable with an end lets the user back in when it passes, with nothing to write.
-- `password_reset_required`: every sign-in but a password reset is refused until one.
-- `last_login_at`: set with every session the gate opens, for operators.
ALTER TABLE users
    ADD COLUMN disabled_at             timestamptz,
    ADD COLUMN disabled_until          timestamptz,
    ADD COLUMN disabled_reason         text,
    ADD COLUMN password_reset_required boolean NOT NULL DEFAULT false,
    ADD COLUMN last_login_at           timestamptz;
-- list_users pages by (created_at, public_id).
CREATE INDEX users_created ON users (created_at, public_id);
