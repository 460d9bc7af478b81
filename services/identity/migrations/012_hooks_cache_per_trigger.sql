-- Seed 002: "Values stored in this cache are scoped to the Trigger in which they are set."
-- The cache was kept per hook name; it is now one per trigger (and per namespace, 011),
-- shared by the hooks of that trigger. `hook` stays: the hook that wrote the entry last.
ALTER TABLE hook_cache ADD COLUMN trigger text;
-- A name announced on both triggers gives its entries to one of them: the seed allows as much
-- ("items may not be available in later transactions even if they are within their lifetime").
UPDATE hook_cache c SET trigger = h.trigger
  FROM hooks h WHERE h.namespace = c.namespace AND h.name = c.hook;
DELETE FROM hook_cache WHERE trigger IS NULL;  -- a hook nobody registers any more
-- Two hooks of one trigger that cached the same key: the longest-lived entry stays.
DELETE FROM hook_cache a USING hook_cache b
 WHERE a.namespace = b.namespace AND a.trigger = b.trigger AND a.key = b.key
   AND (a.expires_at, a.hook) < (b.expires_at, b.hook);
ALTER TABLE hook_cache ALTER COLUMN trigger SET NOT NULL;
ALTER TABLE hook_cache DROP CONSTRAINT hook_cache_pkey;
ALTER TABLE hook_cache ADD PRIMARY KEY (namespace, trigger, key);
