"""The tables the references read and write, in a scratch database of their own: the columns,
defaults and indexes ours has after its migrations (identity's and verification's, with the
runtime's `replies` and `outbox`), written out as one would by hand.
`tests/integration/test_hand_written_references.py` holds them to our migrated schema.

Left out: tables no reference touches, and the trigger that fills `users.username_key` on
insert (the references never insert a user on a measured path; the benchmark's seeding sets
the key itself).
"""

import asyncpg

IDENTITY = """
CREATE TABLE users (
    id                      bigserial PRIMARY KEY,
    public_id               text NOT NULL,
    username                text,
    email                   text,
    phone                   text,
    email_verified          boolean NOT NULL DEFAULT false,
    phone_verified          boolean NOT NULL DEFAULT false,
    properties              jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    app_metadata            jsonb NOT NULL DEFAULT '{}'::jsonb,
    user_metadata           jsonb NOT NULL DEFAULT '{}'::jsonb,
    mfa_enabled             boolean NOT NULL DEFAULT false,
    disabled_at             timestamptz,
    disabled_until          timestamptz,
    disabled_reason         text,
    password_reset_required boolean NOT NULL DEFAULT false,
    last_login_at           timestamptz,
    username_key            text,
    username_skeleton       text,
    released_at             timestamptz
);
CREATE UNIQUE INDEX users_public_id_key ON users (public_id);
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE UNIQUE INDEX users_phone_key ON users (phone);
CREATE INDEX users_created ON users (created_at, public_id);
CREATE UNIQUE INDEX users_username_key ON users (username_key);
CREATE UNIQUE INDEX users_username_skeleton_key ON users (username_skeleton);

CREATE TABLE credentials (
    user_id       bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    password_hash text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sessions (
    id                  bigserial PRIMARY KEY,
    public_id           text NOT NULL UNIQUE,
    user_id             bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash          bytea NOT NULL UNIQUE,
    method              text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    expires_at          timestamptz NOT NULL,
    absolute_expires_at timestamptz NOT NULL,
    factors             text[] NOT NULL DEFAULT '{}',
    proved_at           timestamptz NOT NULL DEFAULT now(),
    chain_id            text
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (absolute_expires_at);
CREATE INDEX sessions_chain ON sessions (chain_id) WHERE chain_id IS NOT NULL;

CREATE TABLE remember_tokens (
    token_hash        bytea PRIMARY KEY,
    user_id           bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_public_id text NOT NULL,
    expires_at        timestamptz NOT NULL,
    factors           text[] NOT NULL DEFAULT '{}',
    chain_id          text NOT NULL,
    chain_expires_at  timestamptz NOT NULL,
    proved_at         timestamptz NOT NULL,
    consumed_at       timestamptz
);
CREATE INDEX remember_tokens_user ON remember_tokens (user_id);
CREATE INDEX remember_tokens_session ON remember_tokens (session_public_id);
CREATE INDEX remember_tokens_chain ON remember_tokens (chain_id);

CREATE TABLE login_failures (
    account_key  text PRIMARY KEY,
    failures     int NOT NULL,
    window_start timestamptz NOT NULL
);

CREATE TABLE hooks (
    trigger      text NOT NULL,
    name         text NOT NULL,
    priority     int NOT NULL,
    announced_at timestamptz NOT NULL DEFAULT now(),
    namespace    text NOT NULL
        DEFAULT coalesce(current_setting('gatehouse.namespace', true), 'gatehouse'),
    PRIMARY KEY (namespace, trigger, name)
);

CREATE TABLE login_clients (
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client     bytea NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, client)
);
"""

VERIFICATION = """
CREATE TABLE codes (
    id           bigserial PRIMARY KEY,
    send_to      text NOT NULL,
    scenario     text NOT NULL,
    digest       bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    attempts     int NOT NULL DEFAULT 0,
    max_attempts int NOT NULL,
    consumed_at  timestamptz,
    voided_at    timestamptz,
    undelivered  boolean NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX codes_one_live ON codes (send_to, scenario)
    WHERE consumed_at IS NULL AND voided_at IS NULL;
CREATE INDEX codes_recent ON codes (send_to, created_at);

CREATE TABLE channels (
    name         text NOT NULL,
    kind         text CHECK (kind IN ('email', 'sms')),
    announced_at timestamptz NOT NULL DEFAULT now(),
    namespace    text NOT NULL
        DEFAULT coalesce(current_setting('gatehouse.namespace', true), 'gatehouse'),
    PRIMARY KEY (namespace, name)
);

-- The limits of a send decided under one per-recipient lock, in one round trip.
CREATE FUNCTION issue_code(
    p_send_to text,
    p_scenario text,
    p_digest bytea,
    p_ttl interval,
    p_max_attempts int,
    p_cooldown interval,
    p_hourly_cap int,
    p_class_scenarios text[],
    OUT code_id bigint,
    OUT expires_at timestamptz,
    OUT issued_at timestamptz,
    OUT retry_after interval
) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    last_same timestamptz;
    cap_reached_by timestamptz;
BEGIN
    issued_at := now();
    PERFORM pg_advisory_xact_lock(hashtextextended(p_send_to, 0));

    SELECT max(c.created_at) INTO last_same FROM codes c
     WHERE c.send_to = p_send_to AND c.scenario = p_scenario AND NOT c.undelivered
       AND c.created_at > issued_at - p_cooldown;
    IF last_same IS NOT NULL THEN
        retry_after := last_same + p_cooldown - issued_at;
        RETURN;
    END IF;

    -- The cap-th most recent send of the class in the last hour, if there are that many: the
    -- cap frees up when it leaves the window.
    SELECT c.created_at INTO cap_reached_by FROM codes c
     WHERE c.send_to = p_send_to AND c.scenario = ANY (p_class_scenarios) AND NOT c.undelivered
       AND c.created_at > issued_at - interval '1 hour'
     ORDER BY c.created_at DESC OFFSET greatest(p_hourly_cap - 1, 0) LIMIT 1;
    IF cap_reached_by IS NOT NULL THEN
        retry_after := cap_reached_by + interval '1 hour' - issued_at;
        RETURN;
    END IF;

    UPDATE codes c SET voided_at = issued_at
     WHERE c.send_to = p_send_to AND c.scenario = p_scenario
       AND c.consumed_at IS NULL AND c.voided_at IS NULL;
    INSERT INTO codes (send_to, scenario, digest, created_at, expires_at, max_attempts)
    VALUES (p_send_to, p_scenario, p_digest, issued_at, issued_at + p_ttl, p_max_attempts)
    RETURNING codes.id, codes.expires_at INTO code_id, expires_at;
END
$$;
"""

# Ours has both in every service's schema (services/runtime/migrations).
RUNTIME = """
CREATE TABLE replies (
    routing_key text NOT NULL,
    message_id  text NOT NULL,
    request_mac bytea NOT NULL,
    reply       bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    key_id      bytea,
    PRIMARY KEY (routing_key, message_id)
);
CREATE INDEX replies_created_at ON replies (created_at);

CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    event_id        uuid NOT NULL UNIQUE,
    routing_key     text NOT NULL,
    body            bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        int NOT NULL DEFAULT 0,
    published_at    timestamptz,
    exchange        text,
    next_attempt_at timestamptz,
    namespace       text NOT NULL
        DEFAULT coalesce(current_setting('gatehouse.namespace', true), 'gatehouse')
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gatehouse_outbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH ROW WHEN (NEW.exchange IS NULL) EXECUTE FUNCTION outbox_notify();
"""

SCHEMAS = {"identity": IDENTITY, "verification": VERIFICATION}


async def create(url: str, service: str) -> None:
    """`service`'s tables (and the runtime's) in schema `service` of the database at `url`."""
    con = await asyncpg.connect(url)
    try:
        await con.execute(f"CREATE SCHEMA IF NOT EXISTS {service}; SET search_path = {service}")
        await con.execute(SCHEMAS[service] + RUNTIME)
    finally:
        await con.close()


class _Connection(asyncpg.Connection):
    """Released without asyncpg's reset query, as ours is (services/runtime/db.py): neither
    leaves session state behind, and the query is a round trip per release."""

    def get_reset_query(self) -> str:
        return ""


async def pool(url: str, service: str, namespace: str, *, max_size: int = 10) -> asyncpg.Pool:
    """A pool on `service`'s schema, as large as ours (GATEHOUSE_DB_POOL_MAX's default)."""
    made = await asyncpg.create_pool(
        url,
        min_size=1,
        max_size=max_size,
        connection_class=_Connection,
        server_settings={"search_path": service, "gatehouse.namespace": namespace},
    )
    assert made is not None
    return made
