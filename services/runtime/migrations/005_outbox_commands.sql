-- Commands a flow promises after its commit (a password reset mail) go through the outbox
-- too: `exchange` NULL is the events exchange, `commands` the commands exchange. A command
-- row may carry a secret (a reset token), so the relay deletes it once the broker confirmed it.
ALTER TABLE outbox ADD COLUMN exchange text CHECK (exchange IN ('commands'));
