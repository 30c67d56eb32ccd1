"""R2's error vocabulary, shared by the binding, the store and the S3 endpoint.

Workers code sees R2 failures as ``Error("<method>: <message> (<v4code>)")`` (workerd's
``r2-bucket.ts``); we raise ``R2Error`` with exactly that text so ``str(exc)`` matches
production byte for byte. The store raises an ``R2Error`` without a method, and the binding
stamps the method it was serving (``R2Error.for_method``); the S3 endpoint maps the same
``code`` names to S3 XML errors.
"""

from __future__ import annotations

from typing import NamedTuple

from emulator.errors import EmulatorError
from emulator.runtime.jsproxy import JsException


class R2ErrorSpec(NamedTuple):
    status: int
    v4code: int
    message: str


# Cloudflare's table (docs/r2.md, "Limits and errors"); messages are quoted verbatim.
R2_ERRORS: dict[str, R2ErrorSpec] = {
    "InternalError": R2ErrorSpec(500, 10001, "We encountered an internal error. Please try again."),
    "NoSuchKey": R2ErrorSpec(404, 10007, "The specified key does not exist."),
    "EntityTooLarge": R2ErrorSpec(
        400, 100100, "Your proposed upload exceeds the maximum allowed object size."),
    "EntityTooSmall": R2ErrorSpec(
        400, 10011, "Your proposed upload is smaller than the minimum allowed object size."),
    "MetadataTooLarge": R2ErrorSpec(
        400, 10012, "Your metadata headers exceed the maximum allowed metadata size."),
    "InvalidObjectName": R2ErrorSpec(400, 10020, "The specified object name is not valid."),
    "InvalidMaxKeys": R2ErrorSpec(400, 10022, "MaxKeys params must be positive integer <= 1000."),
    "NoSuchUpload": R2ErrorSpec(400, 10024, "The specified multipart upload does not exist."),
    "InvalidPart": R2ErrorSpec(400, 10025, "One or more of the specified parts could not be found."),
    "InvalidArgument": R2ErrorSpec(400, 10029, "Metadata missing or invalid"),
    "PreconditionFailed": R2ErrorSpec(
        412, 10031, "At least one of the pre-conditions you specified did not hold."),
    "BadDigest": R2ErrorSpec(400, 10037, "The {alg} checksum you specified did not match what we received."),
    "InvalidRange": R2ErrorSpec(416, 10039, "The requested range is not satisfiable"),
    "BadUpload": R2ErrorSpec(500, 10048, "There was a problem with the multipart upload."),
}


class R2Error(JsException):
    """An R2 operation failed; ``str(exc)`` is workerd's ``<method>: <message> (<v4code>)``.

    A ``pyodide.ffi.JsException`` (name ``Error``, the text as its message), as production
    raises R2's errors into Python; ``str()`` is the text alone, as above.
    """

    def __init__(self, code: str, method: str | None = None, message: str | None = None) -> None:
        spec = R2_ERRORS[code]
        self.code = code
        self.status = spec.status
        self.v4code = spec.v4code
        self.detail = message if message is not None else spec.message
        self.method = method
        super().__init__("Error", self._text())

    def __str__(self) -> str:
        return self.message

    def _text(self) -> str:
        body = f"{self.detail} ({self.v4code})"
        return f"{self.method}: {body}" if self.method else body

    def for_method(self, method: str) -> R2Error:
        """The same error as seen from binding method ``method``."""
        return R2Error(self.code, method, self.detail)


def bad_digest(alg: str, provided_hex: str, actual_hex: str) -> R2Error:
    """BadDigest carries both hashes, as R2 reports them."""
    name = alg.upper().replace("SHA", "SHA-") if alg != "md5" else "MD5"
    message = (
        f"The {name} checksum you specified did not match what we received.\n"
        f"You provided a {name} checksum with value: {provided_hex}\n"
        f"Actual {name} was: {actual_hex}"
    )
    return R2Error("BadDigest", message=message)


class S3Error(EmulatorError):
    """A request to the S3-compatible endpoint that S3 would refuse: answered as S3's XML
    error document with ``code``, ``message`` and ``status`` (``resource`` names the key)."""

    def __init__(self, code: str, message: str, status: int, resource: str = "") -> None:
        super().__init__(message)
        self.code, self.message, self.status, self.resource = code, message, status, resource


# Also a ValueError: the rules come from a user's JSON or XML, and the `r2 bucket cors` verb
# reports every ValueError met while reading them with its message.
class CorsConfigError(EmulatorError, ValueError):
    """A CORS policy that cannot be stored; ``code`` is the S3 error code to answer with."""

    def __init__(self, message: str, code: str = "InvalidRequest") -> None:
        super().__init__(message)
        self.code = code
