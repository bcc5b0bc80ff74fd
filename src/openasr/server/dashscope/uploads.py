"""The SDK's local-file upload flow (spec §6): E2 get a policy, E3 OSS-style form upload.

E2 ``GET /api/v1/uploads?action=getPolicy&model=…`` needs an API key; E3 ``POST /api/v1/uploads/oss``
carries none and is authorised by the signed policy instead (`openasr.jobs.uploads`). The policy's
``upload_host`` is ``Settings.public_url`` + `UPLOAD_PATH` when configured, else the URL the client used
to reach this server (its ``Host`` header), so it works behind a port mapping without configuration.

Size caps: a policy for a sync model (qwen3-asr-flash …) allows the model's 10 MB input limit (spec §11:
"temp storage ≤ 1 GB and the model's limit"); other models get the store's cap (1 GB). A request body
larger than the store's cap is refused while it arrives, before it fills the disk.

Expired uploads are unreadable at once (`UploadStore.open_upload` checks the time); their files are
deleted by `UploadStore.purge_if_due`, which E2 calls (a purge at most every 10 minutes).
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.types import Message, Receive

from openasr.core.errors import InvalidParameterError, UploadTooLargeError
from openasr.jobs.upload_policy import ACCESS_KEY_ID, UploadPolicy
from openasr.jobs.uploads import MB, UploadStore
from openasr.server.dashscope.upload_protocol import PolicyResponse, UploadReceipt
from openasr.server.deps import AppContext, Context, RequestId, get_context
from openasr.server.models import SYNC_MODELS
from openasr.server.surface import Surface, gated
from openasr.service import SYNC_LIMITS
from openasr.settings import Settings

UPLOAD_PATH = "/api/v1/uploads/oss"
"""Where E3 forms are posted (the ``upload_host`` of every policy ends with it)."""
FORM_OVERHEAD_BYTES = 256 * 1024
"""Room for the form's text fields and part headers on top of the file itself."""
FIELD_MAX_BYTES = 64 * 1024
MAX_FIELDS = 16
CAPACITY_LIMIT_MB = 999_999_999
"""The SDK reads a total capacity; openasr has none beyond the disk or bucket, so a large number."""

router = APIRouter(tags=["DashScope uploads"])
POLICY = Surface("upload")
UPLOAD = Surface("upload", needs_key=False, max_body_bytes=None)
"""E3 carries no key: its signed policy authorises it (`jobs.uploads`); its cap is the store's, checked here."""


async def policy_key(request: Request) -> str | None:
    """Authenticate E2 without counting it against the key's request rate.

    Every local-file recognition costs one E2 and one E1; the service limits E2 separately (100 QPS, spec
    §11), so counting both against the 100 RPM of recognition would halve what a user may send.
    """
    ctx = get_context(request)
    return ctx.gate.key(request.headers.get("authorization"))


PolicyKey = Annotated[str | None, Depends(policy_key)]


@router.get("/api/v1/uploads", response_model=PolicyResponse)
@gated(POLICY)
async def get_policy(
    request: Request,
    ctx: Context,
    api_key: PolicyKey,
    rid: RequestId,
    action: str | None = None,
    model: str | None = None,
) -> JSONResponse:
    """E2: a policy for uploading files to a fresh directory, valid for a few minutes."""
    if action != "getPolicy":
        raise InvalidParameterError(f"action must be getPolicy, not {action!r}", param="action")
    if not model:
        raise InvalidParameterError("model is required", param="model")
    store = _store(ctx)
    await run_in_threadpool(store.purge_if_due)
    cap = SYNC_LIMITS.max_bytes if model in SYNC_MODELS else None
    policy = store.issue_policy(api_key, model, max_bytes=cap)
    return JSONResponse({"request_id": rid, "data": policy_data(policy, upload_host(ctx.settings, request))})


def policy_data(policy: UploadPolicy, upload_host: str) -> dict[str, Any]:
    """The ``data`` of an E2 answer (spec §6.2), in the field names and units the SDK reads."""
    return {
        "policy": policy.policy,
        "signature": policy.signature,
        "upload_dir": policy.upload_dir,
        "upload_host": upload_host,
        "expire_in_seconds": math.ceil(policy.expires_in_s),
        "max_file_size_mb": _in_mb(policy.max_bytes),
        "capacity_limit_mb": CAPACITY_LIMIT_MB,
        "oss_access_key_id": ACCESS_KEY_ID,
        "x_oss_object_acl": "private",
        "x_oss_forbid_overwrite": "true",
    }


_UPLOAD_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["key", "policy", "Signature", "file"],
                    "properties": {
                        "key": {"type": "string", "description": "upload_dir from the policy, plus the file name"},
                        "policy": {"type": "string"},
                        "Signature": {"type": "string"},
                        "OSSAccessKeyId": {"type": "string"},
                        "x-oss-object-acl": {"type": "string"},
                        "x-oss-forbid-overwrite": {"type": "string"},
                        "success_action_status": {"type": "string"},
                        "file": {"type": "string", "format": "binary"},
                    },
                }
            }
        },
    }
}
"""The E3 form, documented by hand: the route reads it itself, so that it can cap the body as it arrives."""


@router.post(UPLOAD_PATH, openapi_extra=_UPLOAD_FORM, response_model=UploadReceipt)
@gated(UPLOAD)
async def upload(request: Request, ctx: Context, rid: RequestId) -> JSONResponse:
    """E3: store the form's ``file`` under its ``key`` if the policy allows; exactly 200 on success."""
    store = _store(ctx)
    limit = store.max_file_bytes + FORM_OVERHEAD_BYTES
    declared = request.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(store)
    capped = Request(request.scope, _capped(request.receive, limit, store))
    form = await capped.form(max_files=1, max_fields=MAX_FIELDS, max_part_size=FIELD_MAX_BYTES)
    try:
        fields = {name: value for name, value in form.multi_items() if isinstance(value, str)}
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise InvalidParameterError("the form has no file part named 'file'", param="file")
        stored = await run_in_threadpool(store.accept, fields, file.filename, file.file)
    finally:
        await form.close()
    return JSONResponse(
        {"request_id": rid, "key": stored.key, "url": f"oss://{stored.key}", "size_bytes": stored.size_bytes},
        status_code=200,
    )


def upload_host(settings: Settings, request: Request) -> str:
    """The absolute E3 URL: configured public URL, else the base URL the client used (its Host header)."""
    base = settings.public_url or str(request.base_url)
    return base.rstrip("/") + UPLOAD_PATH


def _store(ctx: AppContext) -> UploadStore:
    if ctx.uploads is None:
        raise InvalidParameterError("file uploads are not enabled on this server")
    return ctx.uploads


def _capped(receive: Receive, limit: int, store: UploadStore) -> Receive:
    """`receive` that refuses a body (declared length or not) once it passes `limit` bytes."""
    received = 0

    async def capped_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise _too_large(store)
        return message

    return capped_receive


def _too_large(store: UploadStore) -> UploadTooLargeError:
    mb = store.max_file_bytes / (1024 * 1024)
    return UploadTooLargeError(f"Your proposed upload exceeds the maximum allowed size of {mb:g} MB.", param="file")


def _in_mb(n: int) -> int | float:
    return n // MB if n % MB == 0 else round(n / MB, 3)
