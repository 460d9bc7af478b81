-- Only events wake the relay at once. A command row (a password reset mail) waits for the
-- relay's next poll, a second at most: its hand-off happens off the reply path, so a reset
-- request for an existing account takes no longer to answer than one for nobody (the relay
-- working right after the commit delayed the reply). pg_notify folds identical notifications
-- of one transaction into one, so a row-level trigger still wakes the relay once per commit.
DROP TRIGGER outbox_notify ON outbox;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH ROW WHEN (NEW.exchange IS NULL) EXECUTE FUNCTION outbox_notify();
