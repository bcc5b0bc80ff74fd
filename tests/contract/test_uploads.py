"""Local-file upload flow (E2, E3, oss://) via the real dashscope SDK and raw HTTP (spec §6, §13 R2, R8)."""

from __future__ import annotations

import asyncio
import http.client
import select
import shutil
import threading
import time
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dashscope
import openai
import pytest
import requests
import uvicorn
from dashscope.common.error import UploadFileException
from dashscope.utils.oss_utils import OssUtils

from live_server import KEY, cache_dir, free_port, live_server, server_settings, shared_engines
from openasr.jobs.secrets import load_or_create_secret
from openasr.jobs.uploads import UploadStore
from openasr.server.app import create_app
from openasr.server.dashscope.uploads import FORM_OVERHEAD_BYTES, policy_data
from openasr.storage import LocalBlobStore

DATA = Path(__file__).resolve().parents[1] / "data"
BECKETT = DATA / "en" / "beckett.wav"
MODEL = "qwen3-asr-flash"
OTHER = "sk-other"
GENERATION = "services/aigc/multimodal-generation/generation"
CERT_KEYS = (
    "policy",
    "signature",
    "upload_dir",
    "upload_host",
    "oss_access_key_id",
    "x_oss_object_acl",
    "x_oss_forbid_overwrite",
)


def words(text: str) -> str:
    return " ".join("".join(ch for ch in text.lower() if ch.isalnum() or ch.isspace()).split())


def text_of(rsp) -> str:  # type: ignore[no-untyped-def]
    return "".join(c.get("text", "") for c in rsp.output.choices[0].message.content)


def user(audio: str) -> list[dict]:
    return [{"role": "user", "content": [{"audio": audio}]}]


def assert_beckett(rsp) -> None:  # type: ignore[no-untyped-def]
    assert rsp.status_code == 200, (rsp.code, rsp.message)
    text = words(text_of(rsp))
    assert "ever tried" in text and "fail better" in text, text


def certificate(model: str = MODEL) -> dict:
    rsp = OssUtils.get_upload_certificate(model=model)
    assert rsp.status_code == 200, (rsp.code, rsp.message)
    return dict(rsp.output)


def post_form(cert: dict, path: Path, name: str | None = None, **overrides: str) -> requests.Response:
    """E3 by hand, with the fields and order the SDK uses (spec §6.3)."""
    name = name or path.name
    fields = {
        "OSSAccessKeyId": cert["oss_access_key_id"],
        "Signature": cert["signature"],
        "policy": cert["policy"],
        "key": f"{cert['upload_dir']}/{name}",
        "x-oss-object-acl": cert["x_oss_object_acl"],
        "x-oss-forbid-overwrite": cert["x_oss_forbid_overwrite"],
        "success_action_status": "200",
        "x-oss-content-type": "audio/x-wav",
        **overrides,
    }
    with path.open("rb") as f:
        return requests.post(cert["upload_host"], data=fields, files={"file": (name, f)}, timeout=60)


def recognise(base: str, url: str, api_key: str = KEY, resolve: bool = True) -> requests.Response:
    headers = {"Authorization": f"Bearer {api_key}"}
    if resolve:
        headers["X-DashScope-OssResourceResolve"] = "enable"
    body = {"model": MODEL, "input": {"messages": user(url)}, "parameters": {}}
    return requests.post(f"{base}/{GENERATION}", headers=headers, json=body, timeout=300)


def silence_wav(path: Path, n_bytes: int) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
        w.writeframes(b"\x00" * n_bytes)
    return path


# ------------------------------------------------------------------------------------------ R2 flow


def test_native_local_file_upload(dashscope_sdk: str) -> None:
    for audio in (f"file://{BECKETT}", str(BECKETT)):  # both forms make the SDK upload first
        assert_beckett(
            dashscope.MultiModalConversation.call(model=MODEL, messages=user(audio), result_format="message")
        )


def test_upload_primitives(server: str, dashscope_sdk: str) -> None:
    cert = certificate()
    for name in CERT_KEYS:
        assert isinstance(cert[name], str) and cert[name], name
    assert cert["upload_host"] == f"{server}/api/v1/uploads/oss"
    assert cert["max_file_size_mb"] == 10  # qwen3-asr-flash's input limit
    assert cert["expire_in_seconds"] > 0

    url, _ = OssUtils.upload(model=MODEL, file_path=str(BECKETT), upload_certificate=cert)
    assert url == "oss://" + cert["upload_dir"] + "/beckett.wav"

    r = recognise(dashscope_sdk, url)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    assert "fail better" in words(r.json()["output"]["choices"][0]["message"]["content"][0]["text"])

    r = recognise(dashscope_sdk, url, resolve=False)
    assert r.status_code == 400
    assert r.json()["code"] == "InvalidParameter" and "X-DashScope-OssResourceResolve" in r.json()["message"]

    # the OpenAI-compatible chat takes the same key with the same header, through the openai SDK
    client = openai.OpenAI(api_key=KEY, base_url=f"{server}/compatible-mode/v1")
    audio = [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": url}}]}]
    resolve = {"X-DashScope-OssResourceResolve": "enable"}
    chat = client.chat.completions.create(model=MODEL, messages=audio, extra_headers=resolve)  # type: ignore[arg-type]
    assert "fail better" in words(chat.choices[0].message.content or "")
    with pytest.raises(openai.BadRequestError, match="X-DashScope-OssResourceResolve"):
        client.chat.completions.create(model=MODEL, messages=audio)  # type: ignore[arg-type]


def test_get_policy_raw(server: str) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    r = requests.get(f"{server}/api/v1/uploads", params={"action": "getPolicy", "model": MODEL}, headers=auth)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["request_id"] and set(CERT_KEYS) <= set(body["data"])
    assert "code" not in body

    r = requests.get(f"{server}/api/v1/uploads", params={"action": "listFiles", "model": MODEL}, headers=auth)
    assert r.status_code == 400 and r.json()["code"] == "InvalidParameter"
    r = requests.get(f"{server}/api/v1/uploads", params={"action": "getPolicy"}, headers=auth)
    assert r.status_code == 400 and r.json()["code"] == "InvalidParameter"
    r = requests.get(f"{server}/api/v1/uploads", params={"action": "getPolicy", "model": MODEL})
    assert r.status_code == 401 and r.json()["code"] == "InvalidApiKey"
    r = requests.get(
        f"{server}/api/v1/uploads",
        params={"action": "getPolicy", "model": MODEL},
        headers={"Authorization": "Bearer sk-wrong"},
    )
    assert r.status_code == 401


def test_upload_rejects_forged_policy(dashscope_sdk: str) -> None:
    cert = dict(certificate(), signature="forged")
    with pytest.raises(UploadFileException):
        OssUtils.upload(model=MODEL, file_path=str(BECKETT), upload_certificate=cert)
    r = post_form(cert, BECKETT)
    assert r.status_code == 403
    assert r.json()["code"] == "AccessDenied"
    assert r.json()["message"].startswith("Invalid according to Policy:")

    other = certificate()  # a genuine signature of another policy
    r = post_form(dict(cert, signature=other["signature"]), BECKETT)
    assert r.status_code == 403 and r.json()["code"] == "AccessDenied"


def test_expired_policy_is_refused(server: str, server_data_dir: Path, dashscope_sdk: str) -> None:
    """Sign with the server's own secret (from its data dir) an hour in the past: a time-travelled E2."""
    clock = UploadStore(LocalBlobStore(server_data_dir / "uploads"), load_or_create_secret(server_data_dir))
    host = f"{server}/api/v1/uploads/oss"
    cert = policy_data(clock.issue_policy(KEY, MODEL, now=time.time() - 3600), host)
    with pytest.raises(UploadFileException, match="Policy expired"):
        OssUtils.upload(model=MODEL, file_path=str(BECKETT), upload_certificate=cert)
    r = post_form(cert, BECKETT, name="again.wav")
    assert r.status_code == 403
    assert r.json()["code"] == "AccessDenied"
    assert r.json()["message"] == "Invalid according to Policy: Policy expired."

    fresh = policy_data(clock.issue_policy(KEY, MODEL), host)  # same secret, current time
    assert post_form(fresh, BECKETT).status_code == 200


def test_file_name_with_spaces_and_utf8(tmp_path: Path, dashscope_sdk: str) -> None:
    local = tmp_path / "meeting 01 会议.wav"
    shutil.copyfile(BECKETT, local)
    assert_beckett(dashscope.MultiModalConversation.call(model=MODEL, messages=user(f"file://{local}")))
    assert_beckett(dashscope.MultiModalConversation.call(model=MODEL, messages=user(str(local))))

    cert = certificate()
    url, _ = OssUtils.upload(model=MODEL, file_path=str(local), upload_certificate=cert)
    assert url == f"oss://{cert['upload_dir']}/meeting 01 会议.wav"  # verbatim, not percent-encoded
    # a pre-existing oss:// URL: the SDK adds X-DashScope-OssResourceResolve itself
    assert_beckett(dashscope.MultiModalConversation.call(model=MODEL, messages=user(url)))


def test_second_upload_of_the_same_name_is_refused(dashscope_sdk: str) -> None:
    cert = certificate()
    OssUtils.upload(model=MODEL, file_path=str(BECKETT), upload_certificate=cert)
    with pytest.raises(UploadFileException, match="FileAlreadyExists"):
        OssUtils.upload(model=MODEL, file_path=str(BECKETT), upload_certificate=cert)
    r = post_form(cert, BECKETT)
    assert r.status_code == 409 and r.json()["code"] == "FileAlreadyExists"
    assert post_form(cert, BECKETT, name="another.wav").status_code == 200  # one policy, several files


def test_file_over_the_cap_is_refused(tmp_path: Path, dashscope_sdk: str) -> None:
    big = silence_wav(tmp_path / "big.wav", 10 * 1024 * 1024 + 2)
    cert = certificate()
    with pytest.raises(UploadFileException, match="EntityTooLarge"):
        OssUtils.upload(model=MODEL, file_path=str(big), upload_certificate=cert)
    r = post_form(cert, big, name="big-raw.wav")
    assert r.status_code == 413 and r.json()["code"] == "EntityTooLarge"
    assert "10 MB" in r.json()["message"]
    with pytest.raises(UploadFileException):
        dashscope.MultiModalConversation.call(model=MODEL, messages=user(f"file://{big}"))
    r = recognise(dashscope_sdk, f"oss://{cert['upload_dir']}/big.wav")
    assert r.status_code == 400, "a refused upload leaves nothing behind"

    filetrans_model = "qwen3-asr-flash-filetrans"
    filetrans = certificate(filetrans_model)  # file transcription takes far bigger files
    assert filetrans["max_file_size_mb"] == 1024
    url, _ = OssUtils.upload(model=filetrans_model, file_path=str(big), upload_certificate=filetrans)
    assert url.endswith("/big.wav")


@contextmanager
def small_store_server(tmp: Path, max_file_bytes: int) -> Iterator[tuple[str, int]]:
    """A server whose upload store takes at most `max_file_bytes` (there is no setting for the store cap)."""
    app = create_app(server_settings(tmp), engines=shared_engines(cache_dir()))
    store = UploadStore(LocalBlobStore(tmp / "small"), load_or_create_secret(tmp), max_file_bytes=max_file_bytes)
    app.state.ctx.uploads = store
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", port
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_request_body_over_the_store_cap_is_refused_while_it_arrives(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """E3 needs no API key, so the body is capped before the form is parsed: by its declared length, and,
    when chunked, after the first bytes past the cap."""
    cap = 64 * 1024
    with small_store_server(tmp_path_factory.mktemp("small"), cap) as (base, port):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.putrequest("POST", "/api/v1/uploads/oss")
        conn.putheader("Content-Type", "multipart/form-data; boundary=x")
        conn.putheader("Content-Length", str(10 * 1024**3))  # 10 GB announced, nothing sent
        conn.endheaders()
        r = conn.getresponse()
        assert r.status == 413 and b"EntityTooLarge" in r.read()
        conn.close()

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.putrequest("POST", "/api/v1/uploads/oss")
        conn.putheader("Content-Type", "multipart/form-data; boundary=x")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        head = b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
        conn.send(b"%x\r\n%s\r\n" % (len(head), head))
        block = b"\x00" * 16 * 1024
        for _ in range((cap + FORM_OVERHEAD_BYTES) // len(block) + 2):
            if select.select([conn.sock], [], [], 0)[0]:
                break  # the server has answered before the body ended: stop sending, as a client should
            try:
                conn.send(b"%x\r\n%s\r\n" % (len(block), block))
            except (BrokenPipeError, ConnectionResetError):
                break  # it answered and closed between two blocks; its answer is read below
        r = conn.getresponse()
        assert r.status == 413 and b"EntityTooLarge" in r.read()
        conn.close()

        dashscope.base_http_api_url = f"{base}/api/v1"
        dashscope.api_key = KEY
        cert = certificate("qwen3-asr-flash-filetrans")
        assert cert["max_file_size_mb"] == round(cap / 1024**2, 3)
        r = post_form(cert, BECKETT)  # 319 kB > 64 KiB: read whole (under cap + overhead), then refused
        assert r.status_code == 413 and r.json()["code"] == "EntityTooLarge"


def test_upload_endpoint_rejects_malformed_forms(dashscope_sdk: str) -> None:
    cert = certificate()
    fields = {
        "OSSAccessKeyId": cert["oss_access_key_id"],
        "Signature": cert["signature"],
        "policy": cert["policy"],
        "key": f"{cert['upload_dir']}/a.wav",
    }
    r = requests.post(cert["upload_host"], data=fields, timeout=30)  # urlencoded, no file
    assert r.status_code == 400 and r.json()["code"] == "InvalidParameter"
    r = requests.post(cert["upload_host"], files={"file": ("a.wav", b"RIFF")}, timeout=30)  # file, no policy
    assert r.status_code == 403 and r.json()["code"] == "AccessDenied"
    r = post_form(cert, BECKETT, key="../../etc/passwd")
    assert r.status_code == 403 and r.json()["code"] == "AccessDenied"
    r = post_form(cert, BECKETT, key=f"{cert['upload_dir']}/../../x.wav")
    assert r.status_code == 400 and r.json()["code"] == "InvalidParameter"


def test_upload_host_follows_host_header_and_public_url(server: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    params = {"action": "getPolicy", "model": MODEL}
    auth = {"Authorization": f"Bearer {KEY}"}
    headers = {**auth, "Host": "asr.example.com:8443"}
    r = requests.get(f"{server}/api/v1/uploads", params=params, headers=headers)
    assert r.json()["data"]["upload_host"] == "http://asr.example.com:8443/api/v1/uploads/oss"

    settings = server_settings(tmp_path_factory.mktemp("public"), public_url="https://asr.example.org/base/")
    with live_server(settings) as base:
        r = requests.get(f"{base}/api/v1/uploads", params=params, headers=auth)
    assert r.json()["data"]["upload_host"] == "https://asr.example.org/base/api/v1/uploads/oss"


# --------------------------------------------------------------------------------------- owner binding


@pytest.fixture(scope="module")
def two_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with live_server(server_settings(tmp_path_factory.mktemp("two-keys"), api_keys=(KEY, OTHER))) as url:
        yield url


def test_upload_is_usable_only_with_the_key_that_got_the_policy(two_keys: str) -> None:
    dashscope.base_http_api_url = f"{two_keys}/api/v1"
    dashscope.api_key = KEY
    url, _ = OssUtils.upload(model=MODEL, file_path=str(BECKETT))

    r = dashscope.MultiModalConversation.call(model=MODEL, messages=user(url), api_key=OTHER)
    assert (r.status_code, r.code) == (400, "InvalidParameter"), (r.code, r.message)
    assert "different API key" in r.message and r.output is None

    raw = recognise(f"{two_keys}/api/v1", url, api_key=OTHER)
    assert raw.status_code == 400 and "was not found" in raw.json()["message"]

    assert_beckett(dashscope.MultiModalConversation.call(model=MODEL, messages=user(url)))  # the owner


# ---------------------------------------------------------------------------------------------- R8


def test_aio_local_file(dashscope_sdk: str) -> None:
    async def go() -> tuple:
        msgs = user(f"file://{BECKETT}")
        try:
            whole = await dashscope.AioMultiModalConversation.call(model=MODEL, messages=msgs)
            stream = await dashscope.AioMultiModalConversation.call(
                model=MODEL, messages=msgs, stream=True, incremental_output=True
            )
            return whole, [c async for c in stream]
        finally:
            await dashscope.close_shared_aio_session()  # else aiohttp warns when asyncio.run closes the loop

    whole, chunks = asyncio.run(go())
    assert_beckett(whole)
    assert chunks and all(c.status_code == 200 for c in chunks)
    assert chunks[-1].output.choices[0].finish_reason == "stop"
    assert "".join(text_of(c) for c in chunks) == text_of(whole)  # true deltas add up to the whole text
