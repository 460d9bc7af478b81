"""Email over SMTP with aiosmtplib: the mail itself and the provider that sends it."""

import hashlib
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from services.notifier.domain import (
    Job,
    PermanentFailure,
    TransientFailure,
    smtp_failure,
)
from services.notifier.templates import Rendered
from services.runtime import work

_ID_SAFE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool
    starttls: bool

    @classmethod
    def from_url(cls, url: str) -> "SmtpConfig":
        """`smtp://user:pass@host:port`, `smtps://…` (implicit TLS), `?starttls=true`."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            # Not echoing the URL: it may hold the password.
            raise ValueError("GATEHOUSE_SMTP_URL must look like smtp://user:pass@host:port")
        implicit = parts.scheme == "smtps"
        query = parse_qs(parts.query)
        starttls = query.get("starttls", ["false"])[0].lower() in ("1", "true", "yes")
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if implicit else 587 if starttls else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            implicit_tls=implicit,
            starttls=starttls and not implicit,
        )


def message_id_header(message_id: str, mail_from: str) -> str:
    """`<id@sender-domain>` from the delivery's message id, so a resent copy is recognisable
    as the same mail by any server that dedupes on Message-ID."""
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "localhost"
    local = (
        message_id
        if _ID_SAFE.match(message_id)
        else hashlib.sha256(message_id.encode()).hexdigest()[:32]
    )
    return f"<{local}@{domain}>"


def build_mail(job: Job, rendered: Rendered, mail_from: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = mail_from
    mail["To"] = job.to
    mail["Subject"] = rendered.subject or ""
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    mail["Message-ID"] = message_id_header(job.message_id, mail_from)
    mail["Auto-Submitted"] = "auto-generated"
    if rendered.text is not None:
        mail.set_content(rendered.text)
        if rendered.html is not None:
            mail.add_alternative(rendered.html, subtype="html")
    elif rendered.html is not None:
        mail.set_content(rendered.html, subtype="html")
    # After the body: set_content() drops every Content-* header set before it.
    mail["Content-Language"] = rendered.locale
    return mail


class SmtpMailer:
    def __init__(self, config: SmtpConfig, mail_from: str, timeout_s: float) -> None:
        self.config = config
        self.mail_from = mail_from
        self.timeout_s = timeout_s

    async def send(self, job: Job, rendered: Rendered) -> None:
        work.forbid_network("an SMTP send")
        mail = build_mail(job, rendered, self.mail_from)
        c = self.config
        try:
            await aiosmtplib.send(
                mail,
                hostname=c.host,
                port=c.port,
                username=c.username,
                password=c.password,
                use_tls=c.implicit_tls,
                start_tls=c.starttls,
                timeout=self.timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            raise smtp_failure(max(codes) if codes else 550, "recipient refused") from None
        except aiosmtplib.SMTPResponseException as exc:
            # The server's text can quote the address; the code says all we need.
            raise smtp_failure(exc.code, type(exc).__name__) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise TransientFailure(f"smtp connection: {type(exc).__name__}") from None
        except ValueError as exc:  # a header aiosmtplib/email refuses to encode
            raise PermanentFailure(f"mail not encodable: {type(exc).__name__}") from None
