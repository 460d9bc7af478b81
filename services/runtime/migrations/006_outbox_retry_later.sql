-- A row the broker would not take (a command nobody serves yet) waits until `next_attempt_at`
-- instead of heading every batch: a hundred of them would otherwise hold back every event.
ALTER TABLE outbox ADD COLUMN next_attempt_at timestamptz;
