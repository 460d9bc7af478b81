"""SQL for the notifier schema, one module per concern: `store.messages.claim(...)`."""

from services.notifier.store import messages, retention

__all__ = ["messages", "retention"]
