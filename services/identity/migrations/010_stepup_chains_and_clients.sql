-- Remember-token chains (issue 22). A chain starts at the sign-in that proved its factors;
-- each auto-login rotates the token but keeps the chain's id, its absolute end and the time
-- the factors were proved. A used token stays (`consumed_at`) until it expires, so presenting
-- it again is noticed: the chain and every session it issued are revoked.
ALTER TABLE remember_tokens
    ADD COLUMN chain_id         text,
    ADD COLUMN chain_expires_at timestamptz,
    ADD COLUMN proved_at        timestamptz,
    ADD COLUMN consumed_at      timestamptz;
-- Tokens from before: each its own chain, ending with the token; when their factors were
-- proved is unknown, so never recently ('epoch').
UPDATE remember_tokens
   SET chain_id = 'c_' || encode(token_hash, 'hex'), chain_expires_at = expires_at,
       proved_at = 'epoch';
ALTER TABLE remember_tokens
    ALTER COLUMN chain_id SET NOT NULL,
    ALTER COLUMN chain_expires_at SET NOT NULL,
    ALTER COLUMN proved_at SET NOT NULL;
CREATE INDEX remember_tokens_chain ON remember_tokens (chain_id);

-- When a session's factors were proved (the step-up for what takes an account reads it): the
-- sign-in that opened it, or for a session from auto_login the sign-in that started its chain.
-- `chain_id`: the remember-token chain the session belongs to, revoked with it.
ALTER TABLE sessions ADD COLUMN proved_at timestamptz, ADD COLUMN chain_id text;
UPDATE sessions SET proved_at = CASE WHEN method = 'remember_token' THEN 'epoch' ELSE created_at END;
ALTER TABLE sessions ALTER COLUMN proved_at SET NOT NULL, ALTER COLUMN proved_at SET DEFAULT now();
CREATE INDEX sessions_chain ON sessions (chain_id) WHERE chain_id IS NOT NULL;

-- Clients an account's owner proved a factor from (a keyed hash of client_ip, IPv6 by /64).
-- A failed password from one of them counts in a lane of its own, so a spray on the account
-- from elsewhere cannot lock the owner out of their usual client.
CREATE TABLE login_clients (
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client     bytea NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, client)
);
