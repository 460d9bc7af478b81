-- Issue 21: hourly budgets of notifier.send.v1, per caller and for all callers, per channel.
-- One counter row per (namespace, scope, channel, clock hour); a send spends from two rows in
-- one transaction with a conditional upsert, so concurrent callers stop exactly at the cap.
CREATE TABLE send_budgets (
    namespace    text NOT NULL,
    scope        text NOT NULL,     -- 'caller:<AMQP user_id>' or 'all'
    channel      text NOT NULL CHECK (channel IN ('email', 'sms')),
    window_start timestamptz NOT NULL,
    used         integer NOT NULL,
    PRIMARY KEY (namespace, scope, channel, window_start)
);
CREATE INDEX send_budgets_window_start ON send_budgets (window_start);
