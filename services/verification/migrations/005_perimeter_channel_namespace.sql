-- Custom channel registrations belong to a namespace (issue 21): two installations, or test
-- runs, sharing one database must never see each other's channels. The column defaults to
-- the writing connection's `gatehouse.namespace` (services/runtime/db.py), as the outbox's
-- does; rows written before this migration go to the namespace that applies it.
ALTER TABLE channels ADD COLUMN namespace text NOT NULL
    DEFAULT coalesce(current_setting('gatehouse.namespace', true), 'gatehouse');
ALTER TABLE channels DROP CONSTRAINT channels_pkey;
ALTER TABLE channels ADD PRIMARY KEY (namespace, name);
