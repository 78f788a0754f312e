"""Errors the domain and services raise; the API maps each to an HTTP status."""

from __future__ import annotations

from typing import Any


class OrderCareError(Exception):
    """Base class: `code` is the snake_case error code, `status` the HTTP status."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, details: list[Any] | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []
        if code:
            self.code = code


class BadRequestError(OrderCareError):
    status, code = 400, "malformed_request"


class UnauthorizedError(OrderCareError):
    status, code = 401, "unauthorized"


class ForbiddenError(OrderCareError):
    status, code = 403, "forbidden"


class NotFoundError(OrderCareError):
    status, code = 404, "not_found"


class ConflictError(OrderCareError):
    status, code = 409, "conflict"


class PayloadTooLargeError(OrderCareError):
    status, code = 413, "payload_too_large"


class ValidationError(OrderCareError):
    status, code = 422, "validation_error"
