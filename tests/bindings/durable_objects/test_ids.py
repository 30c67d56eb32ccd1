"""Ids (ids.py): workerd's local scheme, deterministic names, validation texts."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from emulator.bindings.durable_objects.errors import DurableObjectError
from emulator.bindings.durable_objects.ids import IdFactory


def workerd_id_from_name(unique_key: str, name: str) -> str:
    """workerd's `ActorIdFactoryImpl::idFromName`, written out independently."""
    key = hashlib.sha256(unique_key.encode()).digest()
    base = hmac.new(key, name.encode(), hashlib.sha256).digest()[:16]
    return (base + hmac.new(key, base, hashlib.sha256).digest()[:16]).hex()


def test_id_from_name_is_workerds_and_stable() -> None:
    factory = IdFactory("python-durable-object-List")
    first = factory.from_name("list-1")
    assert first.toString() == workerd_id_from_name("python-durable-object-List", "list-1")
    # A new factory (a restart) derives the same id; names differ, ids differ.
    assert IdFactory("python-durable-object-List").from_name("list-1").equals(first)
    assert not factory.from_name("list-2").equals(first)
    assert first.name == "list-1" and len(first.toString()) == 64 and first.jurisdiction is None
    # Another namespace derives another id for the same name.
    assert IdFactory("other-List").from_name("list-1").toString() != first.toString()


def test_unique_ids_differ_and_round_trip_through_strings() -> None:
    factory = IdFactory("app-Counter")
    a, b = factory.new_unique(), factory.new_unique()
    assert a.toString() != b.toString() and a.name is None
    assert factory.from_string(a.toString()).equals(a)
    assert factory.from_string(a.toString().upper()).toString() == a.toString()


@pytest.mark.parametrize("text", ["", "abc", "g" * 64, "0" * 63, "0" * 65, 42])
def test_id_from_string_refuses_what_is_not_64_hex_digits(text: object) -> None:
    with pytest.raises(DurableObjectError, match=r"^\w+: Invalid Durable Object ID: must be 64 hex digits$") as caught:
        IdFactory("app-Counter").from_string(text)
    assert caught.value.name == "TypeError"


def test_id_from_string_refuses_another_namespaces_id() -> None:
    foreign = IdFactory("app-Other").from_name("x").toString()
    with pytest.raises(DurableObjectError, match=r"^\w+: Durable Object ID is not valid for this namespace.$"):
        IdFactory("app-Counter").from_string(foreign)


def test_jurisdictions_are_refused_as_workerd_does() -> None:
    with pytest.raises(DurableObjectError, match=r"Jurisdiction restrictions are not implemented in workerd\."):
        IdFactory("app-Counter").new_unique({"jurisdiction": "eu"})


def test_names_are_converted_like_js_strings() -> None:
    factory = IdFactory("app-Counter")
    assert factory.from_name(7).toString() == factory.from_name("7").toString()
    with pytest.raises(DurableObjectError, match="must be a string"):
        factory.from_name(["x"])
