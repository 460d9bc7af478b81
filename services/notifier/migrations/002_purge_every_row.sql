-- Housekeeping removes a row a week after its last change, finished or not: a message still
-- `sending` or `retrying` by then was abandoned (retries span minutes), and its row would
-- otherwise keep a recipient's hash forever. One index on updated_at serves that purge.
DROP INDEX messages_finished;
CREATE INDEX messages_updated ON messages (updated_at);
