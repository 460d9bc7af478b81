"""The dev mailbox: in dev mode without a mail server or SMS account, messages become files
in a directory (`GATEHOUSE_DEV_MAILBOX_DIR`) instead of being sent.

Each email is a `.eml` file (open it in any mail client), each SMS a `.txt` file, and one
line per message goes to stdout so `gatehouse up` shows messages arriving. Only ever used
when `GATEHOUSE_MODE=dev` and the provider is not configured: the files hold the codes.
Not to be confused with the transactional outbox (`services.runtime.outbox`), the table
that events and commands wait in until their transaction commits.
"""

import asyncio
import hashlib
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

from services.notifier.domain import Job
from services.notifier.email import build_mail
from services.notifier.templates import Rendered

_SAFE = re.compile(r"[^A-Za-z0-9_-]")


class DevMailbox:
    def __init__(self, directory: str | Path, mail_from: str) -> None:
        self.directory = Path(directory)
        self.mail_from = mail_from

    def _path(self, job: Job, suffix: str) -> Path:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        key = (
            _SAFE.sub("", job.message_id)[:40]
            or hashlib.sha256(job.message_id.encode()).hexdigest()[:16]
        )
        return self.directory / f"{stamp}-{job.channel}-{job.template}-{key}{suffix}"

    async def _write(self, path: Path, data: bytes) -> None:
        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

        await asyncio.to_thread(write)

    async def send_email(self, job: Job, rendered: Rendered) -> None:
        path = self._path(job, ".eml")
        await self._write(path, bytes(build_mail(job, rendered, self.mail_from)))
        print(f"[mailbox] email to {job.to}: {rendered.subject!r} -> {path}", flush=True)

    async def send_sms(self, job: Job, body: str) -> None:
        path = self._path(job, ".txt")
        await self._write(path, f"To: {job.to}\n\n{body}\n".encode())
        print(f"[mailbox] sms to {job.to} -> {path}", file=sys.stdout, flush=True)


class DevMailer:
    def __init__(self, mailbox: DevMailbox) -> None:
        self.mailbox = mailbox

    async def send(self, job: Job, rendered: Rendered) -> None:
        await self.mailbox.send_email(job, rendered)


class DevSms:
    def __init__(self, mailbox: DevMailbox) -> None:
        self.mailbox = mailbox

    async def send(self, job: Job, body: str) -> None:
        await self.mailbox.send_sms(job, body)

    async def close(self) -> None:
        return None
