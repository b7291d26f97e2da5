"""The storage protocol and its two backends.

Keys are relative, slash-separated names (`kyc/ten_…/kyc_…`); every backend checks them with `check_key`, so a key
can never name a path outside the backend's root, whatever reaches it. Blocking work (file system, boto3) runs in a
worker thread so the event loop never waits on a disk or a network round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Protocol

from duro.config import Settings

MAX_KEY_LENGTH = 512
# One path segment: starts with a letter, digit or underscore (so never "." or ".." nor a hidden file), then
# letters, digits, "_", "-", ".". No separators, no NUL, nothing a file system or S3 treats specially.
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}")


class InvalidStorageKey(ValueError):
    """A key that is not a plain relative name (empty, absolute, `..`, odd characters, too long)."""


class StoredFileMissing(LookupError):
    """No stored file under the key."""


def check_key(key: str) -> str:
    """The key itself when it is a safe relative name, else InvalidStorageKey."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidStorageKey("storage key must be 1-512 characters")
    for segment in key.split("/"):
        if not _SEGMENT.fullmatch(segment):
            raise InvalidStorageKey(f"invalid storage key segment {segment!r}")
    return key


class FileStorage(Protocol):
    """Put, get and delete whole files by key. `put` replaces an existing file; `delete` of a missing key is a
    no-op; `get` of a missing key raises StoredFileMissing."""

    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes: ...

    async def delete(self, key: str) -> None: ...


class LocalStorage:
    """Files under one directory (`DURO_STORAGE_DIR`, default `DURO_DATA_DIR/uploads`), owner-only permissions.

    Writes go to a temporary file in the target directory, are flushed to disk, then renamed over the target:
    a reader sees the old file or the new one, never a torn one, and a crash leaves at most a stray temp file."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_of(self, key: str) -> Path:
        check_key(key)
        root = self.root.resolve()
        path = (root / key).resolve()
        # check_key already rules out "..", this also guards against a symlink planted inside the root.
        if path != root and root not in path.parents:
            raise InvalidStorageKey("storage key leaves the storage directory")
        return path

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self.path_of(key)
        await asyncio.to_thread(self._write, path, data)

    async def get(self, key: str) -> bytes:
        path = self.path_of(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError as exc:
            raise StoredFileMissing(key) from exc

    async def delete(self, key: str) -> None:
        path = self.path_of(key)
        await asyncio.to_thread(path.unlink, missing_ok=True)

    def _write(self, path: Path, data: bytes) -> None:
        # mkdir(parents=True) would give the intermediate directories the umask's mode; make each owner-only.
        missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
        for directory in reversed(missing):
            directory.mkdir(mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


class S3Storage:
    """Objects in one bucket of an S3-compatible store. `endpoint_url` selects R2/MinIO (unset = AWS); credentials
    come from the settings or, when unset, boto3's default chain (instance role, environment, profile)."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        self.bucket = bucket
        self._options: dict[str, Any] = {
            "endpoint_url": endpoint_url,
            "region_name": region,
            "aws_access_key_id": access_key_id,
            "aws_secret_access_key": secret_access_key,
        }
        self._client: Any = None

    def _s3(self) -> Any:
        # boto3 is imported on first use: deployments on local storage never load it.
        if self._client is None:
            import boto3
            from botocore.config import Config

            config = Config(
                signature_version="s3v4",
                connect_timeout=5,
                read_timeout=30,
                retries={"max_attempts": 3, "mode": "standard"},
            )
            # boto3 clients are thread-safe; one is shared by every worker thread.
            self._client = boto3.session.Session().client("s3", config=config, **self._options)
        return self._client

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        check_key(key)
        await asyncio.to_thread(
            lambda: self._s3().put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        )

    async def get(self, key: str) -> bytes:
        check_key(key)

        def read() -> bytes:
            client = self._s3()
            try:
                response = client.get_object(Bucket=self.bucket, Key=key)
            except client.exceptions.NoSuchKey as exc:
                raise StoredFileMissing(key) from exc
            body: bytes = response["Body"].read()
            return body

        return await asyncio.to_thread(read)

    async def delete(self, key: str) -> None:
        check_key(key)
        await asyncio.to_thread(lambda: self._s3().delete_object(Bucket=self.bucket, Key=key))


def build_storage(settings: Settings) -> FileStorage:
    """The backend `DURO_STORAGE_BACKEND` names, configured from the settings."""
    if settings.storage_backend == "s3":
        if not settings.s3_bucket:
            raise ValueError("DURO_STORAGE_BACKEND=s3 requires DURO_S3_BUCKET")
        secret = settings.s3_secret_access_key
        return S3Storage(
            settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=secret.get_secret_value() if secret is not None else None,
        )
    return LocalStorage(settings.effective_storage_dir)
