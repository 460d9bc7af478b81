-- Password reset requests waiting for their lookup, token and mail (services/identity/
-- reset_mail.py). The request only queues the identifier it was given, the same write whether
-- or not the identifier names an account; a worker does the rest off the reply path, so the
-- reply takes the same time for everyone. A row lives until the worker takes it, a moment.
CREATE TABLE reset_queue (
    id             bigserial PRIMARY KEY,
    kind           text NOT NULL,
    value          text NOT NULL,
    template       text,
    email_property text,
    created_at     timestamptz NOT NULL DEFAULT now()
);
