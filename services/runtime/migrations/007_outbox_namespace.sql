-- The namespace whose service wrote the row (the connection's `gatehouse.namespace` setting,
-- see services/runtime/db.py): a relay publishes only its own namespace's rows, so two
-- installations or test runs sharing one database never publish each other's events.
ALTER TABLE outbox ADD COLUMN namespace text NOT NULL
    DEFAULT coalesce(current_setting('gatehouse.namespace', true), 'gatehouse');
