"""What the hooks of one flow asked for, aggregated: applied once when the flow completes.
No I/O."""

from dataclasses import dataclass, field
from typing import Any

from contracts.hooks import v1 as hooks


@dataclass
class Effects:
    app_set: dict[str, Any] = field(default_factory=dict)
    app_deleted: set[str] = field(default_factory=set)
    user_set: dict[str, Any] = field(default_factory=dict)
    user_deleted: set[str] = field(default_factory=set)
    user_id: str | None = None

    def add(self, op: hooks.SetAppMetadata | hooks.SetUserMetadata | hooks.SetUserId) -> None:
        if isinstance(op, hooks.SetUserId):
            self.user_id = op.user_id
            return
        sets, deleted = (
            (self.app_set, self.app_deleted)
            if isinstance(op, hooks.SetAppMetadata)
            else (self.user_set, self.user_deleted)
        )
        if op.value is None:  # `None` deletes the key, whatever an earlier hook set
            sets.pop(op.key, None)
            deleted.add(op.key)
        else:
            sets[op.key] = op.value
            deleted.discard(op.key)

    @property
    def touches_metadata(self) -> bool:
        return bool(self.app_set or self.app_deleted or self.user_set or self.user_deleted)

    def view(self, user: hooks.HookUser) -> hooks.HookUser:
        """The user as the next hook sees it: earlier hooks' changes applied."""
        return user.model_copy(
            update={
                "id": self.user_id or user.id,
                "app_metadata": _merged(user.app_metadata, self.app_set, self.app_deleted),
                "user_metadata": _merged(user.user_metadata, self.user_set, self.user_deleted),
            }
        )


def _merged(base: dict[str, Any], sets: dict[str, Any], deleted: set[str]) -> dict[str, Any]:
    merged = {k: v for k, v in base.items() if k not in deleted}
    merged.update(sets)
    return merged
