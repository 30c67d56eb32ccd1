"""JsObject: dicts with attribute access, as Cloudflare's Python SDK hands results to apps."""

from __future__ import annotations

import pytest

from emulator.jsobject import JsObject, to_js_object


def test_keys_are_attributes_both_ways() -> None:
    obj = JsObject(results=[1], success=True)
    assert obj.results == obj["results"] == [1]
    obj.meta = {"changes": 1}
    assert obj["meta"] == {"changes": 1}
    del obj.success
    assert "success" not in obj
    with pytest.raises(AttributeError):
        _ = obj.missing
    with pytest.raises(AttributeError):
        del obj.missing
    assert obj.to_py() is obj


def test_nested_values_are_converted() -> None:
    value = to_js_object({"results": [{"id": 1}], "meta": {"changes": 0}, "n": 3})
    assert value.results[0].id == 1 and value.meta.changes == 0 and value.n == 3
    assert to_js_object(value) is value
    assert to_js_object([{"a": 1}])[0].a == 1
