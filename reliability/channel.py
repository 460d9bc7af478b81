"""The recording custom channel: `python -m reliability.channel`.

Built with Gatehouse's own channel SDK (`gatehouse.channels`). Every delivery is appended to a
JSON-lines file and flushed to disk before the message is acknowledged, so a code the broker
handed over is on record even when the database is the thing being broken. A record names
the code by (send_to, scenario, expires_at), which is also how the verification schema's
`codes` row and the `send_code` reply name it: the code itself is never written.
"""

import asyncio
import json
import os
import time
from pathlib import Path

from contracts.verification.v1 import Delivery
from gatehouse._loop import run
from gatehouse.channels import ChannelWorker, CustomChannel
from services.runtime import logs
from services.runtime.settings import Settings


class Recorder:
    def __init__(self, path: Path) -> None:
        self._file = path.open("a", buffering=1)

    async def deliver(self, delivery: Delivery) -> None:
        record = {
            "send_to": delivery.send_to,
            "scenario": delivery.scenario.value,
            "expires_at": delivery.expires_at.isoformat(),
            "t": time.time(),
        }
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())


async def main() -> None:
    settings = Settings()
    logs.configure(settings.log_level, settings.log_json)
    path = Path(os.environ["RELIABILITY_DELIVERIES"])
    recorder = Recorder(path)
    channel = CustomChannel(os.environ["RELIABILITY_CHANNEL"], "email", recorder.deliver)
    worker = ChannelWorker([channel], settings)
    await worker.start()
    await worker.serving()  # verification heard of the channel and declared its queue
    path.with_suffix(".ready").touch()
    try:
        await asyncio.Event().wait()
    finally:
        await worker.stop()


if __name__ == "__main__":
    run(main())
