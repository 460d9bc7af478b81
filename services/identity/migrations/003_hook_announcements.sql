-- Hook workers announce their hooks again every `hook_announce_interval_s`; a row not
-- announced for `hook_forget_after_s` belongs to a worker that stopped for good and is removed.
ALTER TABLE hooks RENAME COLUMN registered_at TO announced_at;
