-- Custom delivery channels and the kind of recipient each reaches. Channel workers announce
-- themselves (`verification.register_channel.v1`) at start and again every
-- `channel_announce_interval_s`; `send_code` refuses a recipient of the wrong kind before it
-- makes a code. A row nobody announced for `channel_forget_after_s` is removed.
CREATE TABLE channels (
    name         text PRIMARY KEY,
    kind         text CHECK (kind IN ('email', 'sms')),  -- NULL: the channel declared none
    announced_at timestamptz NOT NULL DEFAULT now()
);
