"""Who sent the command being handled: the AMQP `user_id` property of its message.

RabbitMQ refuses a message whose `user_id` is not the user its connection authenticated as
(PRECONDITION_FAILED), so inside a command it names the RabbitMQ user that published it. It
is optional on the wire: `None` means the publisher did not set it. Operator commands (on the
admin exchange) must carry it: it names the actor in their log line and audit event.
"""

from contextvars import ContextVar

current: ContextVar[str | None] = ContextVar("gatehouse_caller", default=None)


def get() -> str | None:
    return current.get()
