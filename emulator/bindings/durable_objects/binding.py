"""``env.NAMESPACE``: a Durable Object namespace and the stubs it hands out, as Python sees them.

The namespace (docs/durable_objects.md, "Namespace and stubs"): ``idFromName``,
``newUniqueId``, ``idFromString``, ``get`` and ``getByName``. A stub is created lazily —
nothing reaches the object until it is called:

- ``await stub.fetch(url_or_request, **init)`` delivers a request to the object's
  ``fetch`` and returns its ``Response`` (absolute URLs only, as the platform requires);
- ``await stub.method(*args, **kwargs)`` calls a public method of the object's class (RPC):
  arguments and the result are passed by value through the platform's serialization
  (``serialize.to_rpc``), and an error raised by the method is raised again in the caller.

A call starts when it is awaited (or wrapped in a task); production starts it when the
method is called. The stub's ``id`` and ``name`` are attributes, every other name is a
method of the object.
"""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING, Any
from collections.abc import Awaitable, Callable

from emulator.bindings.durable_objects.errors import DurableObjectError
from emulator.bindings.durable_objects.ids import JURISDICTION_ERROR, DurableObjectId
from emulator.bindings.durable_objects.serialize import rpc_arguments, rpc_error, to_rpc

if TYPE_CHECKING:
    from emulator.bindings.durable_objects.engine import NamespaceEngine
    from emulator.runtime.http import Response

# workerd refuses these over RPC (they are handlers of the runtime's own).
RESERVED = frozenset({"fetch", "connect", "alarm", "webSocketMessage", "webSocketClose", "webSocketError", "dup",
                      "constructor"})
_NOT_AN_ID = "Failed to execute 'get' on 'DurableObjectNamespace': parameter 1 is not of type 'DurableObjectId'."


def _routing(options: Any, kwargs: dict[str, Any]) -> None:
    opts = dict(options) if isinstance(options, dict) else {}
    opts.update(kwargs)
    mode = opts.get("routingMode")
    if mode is not None and mode != "primary-only":
        raise DurableObjectError(f"unknown routingMode: {mode}", "RangeError")
    # `locationHint` is accepted and ignored: there is one location here.


class DurableObjectNamespace:
    """A Durable Object namespace binding."""

    def __init__(self, engine: NamespaceEngine) -> None:
        self._engine = engine

    def idFromName(self, name: Any) -> DurableObjectId:  # noqa: N802 - JS spelling
        return self._engine.ids.from_name(name)

    def newUniqueId(self, options: Any = None, **kwargs: Any) -> DurableObjectId:  # noqa: N802 - JS spelling
        opts = dict(options) if isinstance(options, dict) else {}
        opts.update(kwargs)
        return self._engine.ids.new_unique(opts)

    def idFromString(self, text: Any) -> DurableObjectId:  # noqa: N802 - JS spelling
        return self._engine.ids.from_string(text)

    def get(self, object_id: Any, options: Any = None, **kwargs: Any) -> DurableObjectStub:
        if not isinstance(object_id, DurableObjectId):
            raise DurableObjectError(_NOT_AN_ID, "TypeError")
        _routing(options, kwargs)
        return DurableObjectStub(self._engine, object_id)

    def getByName(self, name: Any, options: Any = None, **kwargs: Any) -> DurableObjectStub:  # noqa: N802 - JS spelling
        _routing(options, kwargs)
        return DurableObjectStub(self._engine, self._engine.ids.from_name(name))

    def jurisdiction(self, name: Any) -> DurableObjectNamespace:
        # workerd (wrangler dev) has no jurisdictions; production restricts ids to one.
        raise DurableObjectError(JURISDICTION_ERROR)

    def __repr__(self) -> str:
        return f"<DurableObjectNamespace {self._engine.class_name} of {self._engine.script}>"


class DurableObjectStub:
    """A stub of one object: ``fetch`` and RPC methods."""

    def __init__(self, engine: NamespaceEngine, object_id: DurableObjectId) -> None:
        self._engine = engine
        self.id = object_id
        self.name = object_id.name

    async def fetch(self, input: Any, init: dict[str, Any] | None = None, **kwargs: Any) -> Response:
        from emulator.runtime.http import Response

        request = _request(input, {**(init or {}), **kwargs})
        engine = self._engine
        caller = _leave_caller()
        actor = engine.actor(self.id)
        handler_name = engine.handler_name("fetch")

        def call(instance: Any) -> Any:
            from emulator.runtime.relaxed_call import relaxed_call

            handler = getattr(instance, handler_name, None)
            if not callable(handler):
                raise DurableObjectError(f"Method {handler_name} does not exist", "TypeError")
            return relaxed_call(handler, request)

        def check(result: Any) -> Response:
            if not isinstance(result, Response):
                raise DurableObjectError("Incorrect type for Promise: the Promise did not resolve to 'Response'.",
                                         "TypeError")
            return result

        try:
            response: Response = await actor.deliver(call, check)
        except BaseException as exc:  # noqa: BLE001 - whatever the object raised crosses to the caller (_remote keeps cancellation as is)
            raise _remote(exc) from None
        finally:
            if caller is not None:
                await caller.resume_after_io()
        return response

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        method = _RpcMethod(self, name)
        self.__dict__[name] = method
        return method

    def __repr__(self) -> str:
        return f"<DurableObjectStub {self._engine.class_name} {self.name or self.id}>"


class _RpcMethod:
    """``stub.<name>``: calling it sends the call to the object."""

    __slots__ = ("_stub", "_name")

    def __init__(self, stub: DurableObjectStub, name: str) -> None:
        self._stub = stub
        self._name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        # The SDK converts arguments when the method is called (its TypeErrors raise here).
        args, kwargs = rpc_arguments(args, kwargs)
        return _call(self._stub, self._name, args, kwargs)

    def __repr__(self) -> str:
        return f"<RPC method {self._name} of {self._stub!r}>"


async def _call(stub: DurableObjectStub, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    engine = stub._engine
    caller = _leave_caller()
    actor = engine.actor(stub.id)
    if name in RESERVED:
        raise DurableObjectError(f"'{name}' is a reserved method and cannot be called over RPC.", "TypeError")

    def call(instance: Any) -> Any:
        method = getattr(instance, name, None) if not name.startswith("_") else None
        if not callable(method) or isinstance(method, type):
            raise DurableObjectError(f"Method {name} does not exist", "TypeError")
        return method(*args, **kwargs)

    try:
        return await actor.deliver(call, to_rpc)
    except BaseException as exc:  # noqa: BLE001 - whatever the object raised crosses to the caller (_remote keeps cancellation as is)
        raise _remote(exc) from None
    finally:
        if caller is not None:
            await caller.resume_after_io()


def _leave_caller() -> Any:
    """The Durable Object making this call, if any, its output released first (output gate)."""
    from emulator.bindings.durable_objects.actor import current_actor

    caller = current_actor.get()
    if caller is not None and (caller.store.in_txn or caller.pending_alarm is not None):
        caller.flush()
    return caller


def _remote(exc: BaseException) -> BaseException:
    """An error of the object, as its caller receives it (the object's traceback as a note)."""
    import asyncio

    from emulator.bindings.durable_objects.errors import DurableObjectsConfigError

    if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt, SystemExit, DurableObjectsConfigError)):
        return exc
    if getattr(exc, "remote", False) is True and isinstance(exc, DurableObjectError):
        return exc
    from emulator.errors import JsError

    # App errors carry the object's traceback; the platform's own errors speak for themselves.
    text = None if isinstance(exc, JsError) or exc.__traceback__ is None else "".join(traceback.format_exception(exc))
    return rpc_error(exc, text)


def _request(input: Any, init: dict[str, Any]) -> Any:
    """``stub.fetch`` arguments as the object's own ``Request`` (absolute URLs only)."""
    from urllib.parse import urlsplit

    from emulator.runtime.http import Request

    if isinstance(input, Request):
        return Request(input, **init)
    url = str(input)
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        raise DurableObjectError(f"Fetch API cannot load: {url}", "TypeError")
    return Request(url, **init)
