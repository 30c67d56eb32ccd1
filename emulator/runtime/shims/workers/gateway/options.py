"""``BaseOptions``: how the ASGI/WSGI adapters build their responses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

EncodeBody = Literal["automatic", "manual"]


@dataclass(frozen=True, kw_only=True)
class BaseOptions:
    """``encode_body="manual"``: the app compressed the body itself (``Content-Encoding``
    set), so the runtime must send it as it is (JS ``Response`` option ``encodeBody``)."""

    encode_body: EncodeBody = "automatic"

    def __post_init__(self) -> None:
        if self.encode_body not in get_args(EncodeBody):
            raise ValueError(f"encode_body must be one of {get_args(EncodeBody)}, got {self.encode_body!r}")

    def response_init(self) -> dict[str, Any]:
        """Extra options for the JS ``Response`` the adapter builds."""
        return {} if self.encode_body == "automatic" else {"encodeBody": self.encode_body}
