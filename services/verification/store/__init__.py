"""SQL for the verification schema, one module per concern: `store.codes.issue_code(...)`."""

from services.verification.store import channels, codes, retention

__all__ = ["channels", "codes", "retention"]
