"""The server-side reopen expression and the lifecycle table must agree everywhere."""

import pytest
from bson import ObjectId

from ticketcore.lifecycle import Status, status_after_player_message
from ticketcore.store import Store
from ticketcore.writes import reopen_on_player_message


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("assignee", [None, "U1"])
def test_reopen_expression_matches_lifecycle(
    store: Store, status: Status, assignee: str | None
) -> None:
    _id = ObjectId()
    store.tickets.insert_one({"_id": _id, "status": status.value, "assignee": assignee})
    after = store.tickets.find_one_and_update(
        {"_id": _id}, [{"$set": reopen_on_player_message()}], return_document=True
    )
    assert (
        after["status"]
        == status_after_player_message(status, is_assigned=assignee is not None).value
    )
