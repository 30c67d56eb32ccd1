"""Unit tests of the consumer's message validation and instance ids (apps/workflow/src/entry.py)."""

from __future__ import annotations

import re

import pytest

import entry


def test_a_valid_message_is_normalized() -> None:
    message, reason = entry.validate_message({"datasetId": "alice", "table": "battle", "periodTag": "2025-12-20",
                                              "priority": "realtime", "metricId": "m", "userId": "alice"})
    assert reason is None and message is not None
    assert message["priority"] == "realtime" and message["table"] == "battle"


def test_priority_defaults_to_scheduled_as_in_the_original() -> None:
    message, _ = entry.validate_message({"datasetId": "alice"})
    assert message is not None and message["priority"] == "scheduled" and message["table"] is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (None, "JSON object"),
        ("text", "JSON object"),
        ({}, "datasetId"),
        ({"datasetId": ""}, "datasetId"),
        ({"datasetId": "../x"}, "datasetId must match"),
        ({"datasetId": "a", "priority": "urgent"}, "priority must be one of realtime|manual|scheduled"),
        ({"datasetId": "a", "table": "a/b"}, "table must match"),
        ({"datasetId": "a", "periodTag": 7}, "periodTag must match"),
        ({"datasetId": "a", "userId": 5}, "userId"),
    ],
)
def test_invalid_messages_say_why(body: object, reason: str) -> None:
    message, why = entry.validate_message(body)
    assert message is None and why is not None and reason in why


def test_instance_ids_are_valid_workflow_ids() -> None:
    iid = entry._instance_id("cmp-", "msg:1/2 " + "x" * 200)
    assert re.fullmatch(r"[a-zA-Z0-9_][a-zA-Z0-9-_]*", iid) and len(iid) <= 100
    assert entry._instance_id("cmp-", "abc") == entry._instance_id("cmp-", "abc")
