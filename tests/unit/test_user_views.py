"""Seed 004's user object (`view: "monaca"`): which commands offer it, and its shape."""

from datetime import UTC, datetime

from contracts.identity import v1
from services.identity import handlers
from services.identity.views import monaca_user


def test_every_command_whose_reply_has_a_user_takes_view_and_answers_it():
    for served in handlers.COMMANDS:
        command = served.command
        if command.exchange != "commands":
            continue  # operators' commands answer their own AdminUser
        has_user = "user" in command.result.model_fields
        assert ("view" in command.request.model_fields) == has_user, command.routing_key
        assert ("monaca_user" in command.result.model_fields) == has_user, command.routing_key
        wrapped = hasattr(served.flow, "__wrapped__")
        assert wrapped == has_user, f"{command.routing_key}: with_view missing"


def test_the_seed_shape_flattens_properties_beside_the_underscored_fields_in_unixtime():
    created = datetime(2026, 11, 27, 7, 20, 56, 982689, tzinfo=UTC)
    user = v1.User(
        id="u_1",
        username="ada@example.com",
        properties={"age": 21, "nickname": "Ada"},
        created_at=created,
        updated_at=created.replace(minute=21),
    )
    seed = monaca_user(user).model_dump(mode="json")
    assert seed == {
        "_id": "u_1",
        "_username": "ada@example.com",
        "_createdAt": 1795764056,
        "_updateAt": 1795764116,
        "age": 21,
        "nickname": "Ada",
    }
    # What a client reads back is the same object.
    assert v1.MonacaUser.model_validate(seed).model_dump(mode="json") == seed
