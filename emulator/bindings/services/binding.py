"""``env.SERVICE``: a fetcher whose ``fetch`` and RPC calls go to another hosted app.

Production routes a service binding to another Worker without a network hop; here the
target is the other app's host in this same process (``platform.hosts[service]``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emulator.bindings.services.config import ServiceBinding

if TYPE_CHECKING:
    from emulator.platform import Platform
    from emulator.runtime.http import Response


class ServiceFetcher:
    """A service binding: ``fetch`` and RPC method calls go to another hosted app."""

    def __init__(self, platform: Platform, binding: ServiceBinding, caller: str) -> None:
        self._platform = platform
        self._binding = binding
        self._caller = caller

    def _target(self) -> Any:
        host = self._platform.hosts.get(self._binding.service)
        if host is None:
            raise RuntimeError(
                f"Service binding {self._binding.binding} of {self._caller}: no hosted app named "
                f"{self._binding.service!r}. Host it too (add it to the workspace or pass another "
                f"-c CONFIG to `cf-emulator dev`)."
            )
        if not callable(getattr(host, "fetch_service", None)):
            raise RuntimeError(f"Service binding {self._binding.binding}: {self._binding.service!r} "
                               "cannot receive requests")
        return host

    async def fetch(self, input: Any, init: dict[str, Any] | None = None, **kwargs: Any) -> Response:
        from emulator.runtime.host import as_request

        target = self._target()
        return await target.fetch_service(as_request(input, {**(init or {}), **kwargs}),  # type: ignore[no-any-return]  # AppHost.fetch_service returns the target's Response
                                          entrypoint=self._binding.entrypoint)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await self._target().call_rpc(self._binding.entrypoint, name, args, kwargs)

        call.__name__ = name
        return call

    def __repr__(self) -> str:
        return f"<Fetcher {self._binding.binding} → {self._binding.service}>"
