"""API errors of the Toxiproxy-compatible server, shaped like Toxiproxy's `ApiError` (api.go).

`ApiError` carries the message and the HTTP status; `RawError` is any other failure (a Go error
without a status), which the real server answers with status 500 and the message verbatim.
"""
from __future__ import annotations


class ApiError(Exception):
    """An error with an HTTP status, rendered as {"error": message, "status": status}."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def joined(self, detail: str) -> "ApiError":
        """Go's joinError: "<message>: <detail>" with the same status."""
        return ApiError(f"{self.message}: {detail}", self.status)


class RawError(ApiError):
    """A plain Go error (listen/resolve failures): always status 500, message verbatim."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 500)


BAD_REQUEST_BODY = ApiError("bad request body", 400)
MISSING_FIELD = ApiError("missing required field", 400)
PROXY_NOT_FOUND = ApiError("proxy not found", 404)
PROXY_ALREADY_EXISTS = ApiError("proxy already exists", 409)
INVALID_STREAM = ApiError("stream was invalid, can be either upstream or downstream", 400)
INVALID_TOXIC_TYPE = ApiError("invalid toxic type", 400)
TOXIC_ALREADY_EXISTS = ApiError("toxic already exists", 409)
TOXIC_NOT_FOUND = ApiError("toxic not found", 404)
