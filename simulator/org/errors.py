"""The simulator's API error: one exception carrying Salesforce's status, error code, message and fields.

ApiError(status, error_code, message, fields)
  REST body:             [{"message": ..., "errorCode": ..., "fields": [...]}]
  Collections item:      {"statusCode": ..., "message": ..., "fields": [...]}
  300 MULTIPLE_CHOICES:  the body is the JSON array of matching record urls (`urls`)
"""

from __future__ import annotations

__all__ = ["NOT_FOUND_MESSAGE", "ApiError"]

NOT_FOUND_MESSAGE = "The requested resource does not exist"


class ApiError(Exception):
    """A Salesforce API error with the HTTP status and the wire fields a client reads."""

    def __init__(
        self,
        status: int,
        error_code: str,
        message: str = "",
        fields: list[str] | None = None,
        *,
        urls: list[str] | None = None,
    ) -> None:
        super().__init__(f"{status} {error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields: list[str] = list(fields or [])
        self.urls: list[str] = list(urls or [])

    def rest_body(self) -> list:
        """The REST error body: a JSON array (of record urls for a 300, of one error object otherwise)."""
        if self.status == 300 and self.urls:
            return list(self.urls)
        return [{"message": self.message, "errorCode": self.error_code, "fields": list(self.fields)}]

    def collection_item(self) -> dict:
        """One per-item error as sObject Collections and Bulk results report it (`statusCode`, not `errorCode`)."""
        return {"statusCode": self.error_code, "message": self.message, "fields": list(self.fields)}
