"""The one exception tree of openasr.

Every failure a user can cause or meet is an `AsrError` carrying three things, so each surface can
render it without guessing: `code` (the DashScope error code of the sync API), `http_status`, and
`task_code` (the code an async task reports when it ends FAILED, spec §10.3). Third-party errors
(PyAV, httpx, CTranslate2) are translated into this tree at exactly one boundary each, with
`raise ... from exc`; anything that is not an `AsrError` is a bug and surfaces as a 500.
"""

from __future__ import annotations


class AsrError(Exception):
    """Base of every expected failure."""

    code = "InternalError"
    http_status = 500
    task_code = "INTERNAL_ERROR"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    def __str__(self) -> str:
        return self.message


class InvalidParameterError(AsrError):
    """A request parameter is missing, malformed, or asks for something the engine cannot do."""

    code = "InvalidParameter"
    http_status = 400
    task_code = "INVALID_PARAMETER"


class InvalidChannelError(InvalidParameterError):
    """A requested channel index does not exist in the audio."""

    task_code = "INVALID_CHANNEL"


class AudioDecodeError(InvalidParameterError):
    """The input is not audio, is corrupt, is empty, or has no audio stream."""

    task_code = "DECODE_ERROR"


class AudioTooLargeError(InvalidParameterError):
    """The input is bigger than the surface's byte limit (10 MB sync, 2 GB async)."""

    task_code = "FILE_TOO_LARGE"


class AudioTooLongError(InvalidParameterError):
    """The input is longer than the surface's duration limit (5 min sync, 12 h async)."""

    task_code = "AUDIO_DURATION_TOO_LONG"


class SourceError(InvalidParameterError):
    """The audio reference could not be fetched (bad URL, refused address, HTTP failure)."""

    task_code = "FILE_DOWNLOAD_FAILED"


class SourceForbiddenError(SourceError):
    """The audio URL answered 403."""

    task_code = "FILE_403_FORBIDDEN"


class SourceNotFoundError(SourceError):
    """The audio URL answered 404, or an upload key / local path does not exist."""

    task_code = "FILE_404_NOT_FOUND"


class ModelNotFoundError(AsrError):
    """The requested model name is not configured."""

    code = "ModelNotFound"
    http_status = 404
    task_code = "MODEL_NOT_FOUND"


class ModelUnavailableError(AsrError):
    """The model is known but its weights are missing or corrupt on this machine."""

    code = "ModelUnavailable"
    http_status = 503
    task_code = "MODEL_UNAVAILABLE"


class EngineUnavailableError(ModelUnavailableError):
    """The engine is a remote ASR server that cannot be reached or keeps failing: a passing condition,
    so a sync request gets a 503 to retry and a task goes back to PENDING to resume from its checkpoints."""

    task_code = "ENGINE_UNAVAILABLE"


class InternalError(AsrError):
    """An unexpected failure inside openasr; logged with the request id, never shown as a traceback."""


class InvalidApiKeyError(AsrError):
    """The API key is missing or not one of the configured keys."""

    code = "InvalidApiKey"
    http_status = 401
    task_code = "INVALID_API_KEY"


class ThrottledError(AsrError):
    """The API key is over its request rate; `retry_after_s` says when the window frees a slot."""

    code = "Throttling.RateQuota"
    http_status = 429
    task_code = "THROTTLED"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ServerBusyError(ThrottledError):
    """More audio waits for the engine than the server's bound: a sync request would not finish in time.

    DashScope answers 503 `Throttling` (the SDK's `wait` retries 503); the OpenAI surfaces answer 429,
    which the OpenAI SDKs retry after `Retry-After`."""

    code = "Throttling"
    http_status = 503


class UnsupportedOperationError(AsrError):
    """The operation is not allowed in the object's state (e.g. cancelling a task that is not PENDING)."""

    code = "UnsupportedOperation"
    http_status = 400
    task_code = "UNSUPPORTED_OPERATION"


class AccessDeniedError(AsrError):
    """The caller may not do this: e.g. an upload whose policy is forged, altered or expired."""

    code = "AccessDenied"
    http_status = 403
    task_code = "ACCESS_DENIED"


class ConflictError(AsrError):
    """The request conflicts with what exists (e.g. an object that may not be overwritten)."""

    code = "Conflict"
    http_status = 409
    task_code = "CONFLICT"


class UploadExistsError(ConflictError):
    """A second upload to the same key: uploads are never overwritten (OSS `x-oss-forbid-overwrite`)."""

    code = "FileAlreadyExists"


class UploadTooLargeError(AsrError):
    """An uploaded file is bigger than its policy allows (the model's input limit, at most the store cap)."""

    code = "EntityTooLarge"
    http_status = 413
    task_code = "FILE_TOO_LARGE"
