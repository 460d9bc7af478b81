-- Issue 21 (secrets): identity's reset mail is `notifier.send_security.v1`, a command of the
-- `internal` exchange (contracts/topology.py, INTERNAL). The column held only `commands`.
ALTER TABLE outbox DROP CONSTRAINT outbox_exchange_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_exchange_check
    CHECK (exchange IN ('commands', 'internal'));
