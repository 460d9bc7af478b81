-- The hourly cap counts per recipient AND scenario class (issue 22): `register` sends for an
-- address no longer use up the cap of its `login`, `two_factor` and `reset_password` codes.
-- The class's scenarios come from the service (services/verification/domain.py), so the
-- grouping is written once. Same lock, same single round trip as 002: concurrent sends still
-- serialise on the recipient, so they stop exactly at the cap.
-- The seven-argument issue_code of 002 stays for replicas still running the old code during a
-- rolling upgrade; nothing new calls it.
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
