"""Server keys across a hard restart, as a developer runs Gatehouse (issue 21, point 6).

Dev mode makes the keys it is not given, once, and keeps them under GATEHOUSE_DEV_KEY_DIR.
Before, a `kill -9` and a restart made new ones: every code sent before stopped working, and
a redelivered `send_code` whose code was created answered `invalid_params` (its recorded
reply could no longer be checked nor opened).
"""

import asyncio
import stat
import sys
import uuid

from contracts.verification import v1
from gatehouse.rpc import RpcClient
from tests.process_support import free_port, start_service
from tests.support import call, inbox_channels, random_email

KEYS = ("GATEHOUSE_CODE_HMAC_KEY", "GATEHOUSE_REPLY_KEY")


async def test_a_dev_restart_after_kill_9_keeps_codes_valid_and_replies_readable(
    make_settings, tmp_path
):
    settings = make_settings()
    dev = {"GATEHOUSE_MODE": "dev", "GATEHOUSE_DEV_KEY_DIR": str(tmp_path / "keys")}
    email = random_email()
    body = {"send_to": email, "scenario": "login", "channel": "inbox"}
    message_id = uuid.uuid4().hex
    url = settings.amqp_url.get_secret_value()
    async with RpcClient(url, settings.topology, timeout_s=20) as rpc:
        proc = await start_service(settings, free_port(), extra_env=dev, without=KEYS)
        try:
            # Started after verification, which declares the channel's queue when told of it.
            async with inbox_channels(settings, ("inbox", "email")) as inbox:
                first = await call(rpc, v1.send_code, body, message_id=message_id)
                assert first["ok"], first
                code = await inbox.code(email)
        finally:
            proc.kill()  # kill -9: no shutdown, nothing flushed
            await proc.wait()
        for name in ("code-hmac-key", "reply-key"):
            assert stat.S_IMODE((tmp_path / "keys" / name).stat().st_mode) == 0o600

        proc = await start_service(settings, free_port(), extra_env=dev, without=KEYS)
        try:
            # The message redelivered (or re-sent after a timeout): its recorded reply.
            again = await call(rpc, v1.send_code, body, message_id=message_id)
            assert again == first
            # Login codes are redeemed by identity only (on the internal exchange).
            checked = await call(
                rpc, v1.redeem_code, {"send_to": email, "scenario": "login", "code": code}
            )
            assert checked["ok"], checked
        finally:
            proc.kill()
            await proc.wait()


async def test_prod_refuses_to_start_with_the_published_example_key(make_settings):
    settings = make_settings()
    env = {
        "GATEHOUSE_MODE": "prod",
        "GATEHOUSE_DATABASE_URL": settings.database_url.get_secret_value(),
        "GATEHOUSE_CODE_HMAC_KEY": "dev-only-change-me-0123456789abcdef",  # .env.example's
        "GATEHOUSE_REPLY_KEY": "a-reply-key-that-is-fine-0123456789abcdefgh",
        "PATH": "/usr/bin:/bin",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "faststream",
        "run",
        "services.verification.app:app",
        env={**env, "PYTHONPATH": ":".join(sys.path)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode != 0
    assert "GATEHOUSE_CODE_HMAC_KEY is an example value" in (out + err).decode()
