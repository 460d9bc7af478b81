-- Hook registrations and caches belong to a namespace (issue 21): two installations, or test
-- runs, sharing one database must never call, order or read each other's hooks. The column
-- defaults to the writing connection's `gatehouse.namespace` (services/runtime/db.py), as the
-- outbox's does; rows written before this migration go to the namespace that applies it,
-- which in a database of one namespace is theirs.
ALTER TABLE hooks ADD COLUMN namespace text NOT NULL
    DEFAULT coalesce(current_setting('gatehouse.namespace', true), 'gatehouse');
ALTER TABLE hooks DROP CONSTRAINT hooks_pkey;
ALTER TABLE hooks ADD PRIMARY KEY (namespace, trigger, name);

ALTER TABLE hook_cache ADD COLUMN namespace text NOT NULL
    DEFAULT coalesce(current_setting('gatehouse.namespace', true), 'gatehouse');
ALTER TABLE hook_cache DROP CONSTRAINT hook_cache_pkey;
ALTER TABLE hook_cache ADD PRIMARY KEY (namespace, hook, key);
