"""`gatehouse keys rotate|list`: identity's access token signing keys."""

import argparse
import asyncio
import sys
from typing import Any

from services.cli.reach import reaching
from services.identity import app as identity
from services.identity import signing_keys, store
from services.ops.system import SystemSettings
from services.runtime import db
from services.runtime.settings import Mode


def add(commands: Any) -> None:
    keys = commands.add_parser(
        "keys", help="access token signing keys (GATEHOUSE_ACCESS_TOKENS=jwt)"
    )
    keys.add_argument(
        "action",
        choices=("rotate", "list"),
        help="rotate: add the next signing key (published first, signing once every replica "
        "has it); list: every stored key",
    )
    keys.set_defaults(run=run, mode=Mode.prod)


def run(args: argparse.Namespace, settings: SystemSettings) -> int:
    return asyncio.run(keys(settings, args.action))


async def keys(settings: SystemSettings, action: str) -> int:
    url = settings.database_url.get_secret_value()
    async with reaching("database", url):
        pool = await db.create_pool(url, identity.NAME, namespace=settings.namespace, max_size=1)
    try:
        await db.migrate(pool, identity.NAME, identity.MIGRATIONS)
        if action == "rotate":
            try:
                key = await signing_keys.rotate(pool, settings)
            except ValueError as exc:  # no secret in prod mode
                print(f"gatehouse: {exc}", file=sys.stderr)
                return 1
            except signing_keys.SealedKeyError:
                print(
                    "gatehouse: GATEHOUSE_SIGNING_KEY_SECRET does not open the current signing "
                    "key: rotate with the secret the identity service runs with",
                    file=sys.stderr,
                )
                return 1
            print(f"added {key.kid} ({key.alg}); it signs from {key.activates_at:%c %Z}")
            return 0
        print(f"{'kid':44}  {'alg':5}  {'created':25}  {'signs from':25}  retiring at")
        for row in (await store.signing_keys.signing_keys(pool, retired=True)).keys:
            retiring = f"{row.retires_at:%F %T%z}" if row.retires_at else "-"
            print(
                f"{row.kid:44}  {row.alg:5}  {row.created_at:%F %T%z}      "
                f"{row.activates_at:%F %T%z}      {retiring}"
            )
        return 0
    finally:
        await pool.close()
