"""SQL for the notifier schema, one module per concern: `store.messages.claim(...)`."""

from services.notifier.store import budgets, messages, retention

__all__ = ["budgets", "messages", "retention"]
