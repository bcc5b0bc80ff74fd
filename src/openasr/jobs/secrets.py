"""The server's signing secret, kept in the data directory (API key ids are `openasr.core.keys.key_id`).

One random secret per data directory signs result URLs and upload policies (each with its own
message prefix, so a signature made for one purpose never verifies for the other). It survives restarts,
so URLs handed out before a restart stay valid, and every process sharing the data directory agrees on it.

With blobs in S3 (several servers behind one load balancer) the secret lives in the store instead
(`load_or_create_store_secret`): a policy issued by one node is accepted by the node its upload lands
on, and a result link made by one node is served by any. Whoever can read the bucket can read every
upload and result anyway; the secret adds nothing to what bucket credentials already grant.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from openasr.storage import BlobNotFoundError, BlobStore

SECRET_FILE = "signing.key"
SECRET_BYTES = 32


def load_or_create_secret(data_dir: Path, name: str = SECRET_FILE) -> bytes:
    """Return the secret stored in ``data_dir/name``, creating it (mode 0600) on first use.

    Creation is race-free between processes: the secret is written to a private temp file and
    hard-linked into place, which fails if another process got there first; then everyone reads the
    winner's file. A file that is not 0600 is tightened, since anyone reading it could forge URLs.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / name
    if not path.exists():
        _create(path)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        path.chmod(0o600)
    return _parse(path.read_text(encoding="ascii"), path)


def load_or_create_store_secret(blobs: BlobStore, name: str = SECRET_FILE) -> bytes:
    """Return the secret kept as blob `name` in `blobs`, creating it on first use. Creation is race-free
    between nodes (`BlobStore.create`, a conditional write): every node reads the one that won."""
    for _ in range(2):
        try:
            with blobs.open(name) as stream:
                return _parse(stream.read().decode("ascii", "replace"), f"{blobs.location}/{name}")
        except BlobNotFoundError:
            blobs.create(name, (secrets.token_hex(SECRET_BYTES) + "\n").encode("ascii"))
    raise RuntimeError(f"{blobs.location}/{name} was created but cannot be read back")


def _parse(text: str, where: object) -> bytes:
    try:
        secret = bytes.fromhex(text.strip())
    except ValueError as exc:
        raise ValueError(f"{where} does not hold a hex secret; delete it to make a new one") from exc
    if len(secret) < 16:
        raise ValueError(f"{where} holds a secret shorter than 16 bytes; delete it to make a new one")
    return secret


def _create(path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secrets.token_hex(SECRET_BYTES) + "\n")
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another process won the race: use its secret
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
