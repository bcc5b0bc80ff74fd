"""The upload flow's answers (spec §6): E2's policy and E3's receipt, exactly as sent.

The router documents them as the 200 answers and the CLI client reads the policy with the same model, so
an upload made by `openasr task submit` follows the fields the server declares.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class UploadPolicy(BaseModel):
    """E2's `data`: where and how to post one E3 form."""

    policy: str = Field(description="base64 JSON claims: expiration, upload_dir, model, owner, max_bytes")
    signature: str
    upload_dir: str = Field(description="the form's `key` is this directory, a slash and the file name")
    upload_host: str = Field(description="absolute URL to post the E3 form to")
    expire_in_seconds: int
    max_file_size_mb: int | float
    capacity_limit_mb: int
    oss_access_key_id: str
    x_oss_object_acl: str
    x_oss_forbid_overwrite: str


class PolicyResponse(BaseModel):
    """E2's answer."""

    request_id: str
    data: UploadPolicy


class UploadReceipt(BaseModel):
    """E3's answer (an addition of openasr's: OSS answers an empty 200)."""

    request_id: str
    key: str
    url: str = Field(description="the `oss://` reference to pass as audio or file_url")
    size_bytes: int
