"""Storage backends: the local directory (safe keys, atomic replace, owner-only files) and S3 against a real
S3-compatible endpoint on loopback (moto's server), both through the same protocol."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from duro.storage import FileStorage, InvalidStorageKey, LocalStorage, S3Storage, StoredFileMissing, build_storage
from tests.conftest import make_settings

BAD_KEYS = [
    "",
    "/etc/passwd",
    "../escape",
    "kyc/../../escape",
    "kyc/./x",
    "kyc//x",
    "kyc/x/",
    ".hidden",
    "kyc/.x",
    "kyc\\x",
    "kyc/x\x00y",
    "kyc/x y",
    "a" * 513,
    "kyc/" + "b" * 129,
]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def make_s3(endpoint: str, bucket: str) -> S3Storage:
    storage = S3Storage(
        bucket,
        endpoint_url=endpoint,
        region="us-east-1",
        access_key_id="testing",
        secret_access_key="testing",  # moto accepts any credentials
    )
    storage._s3().create_bucket(Bucket=bucket)
    return storage


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> FileStorage:
    if request.param == "local":
        return LocalStorage(tmp_path / "files")
    endpoint = request.getfixturevalue("s3_endpoint")
    return make_s3(endpoint, f"bucket-{request.node.name.split('[')[0].replace('_', '-')[:40]}")


async def test_put_get_replace_delete(storage: FileStorage) -> None:
    await storage.put("kyc/ten_1/kyc_1", b"%PDF-1.7 first", "application/pdf")
    assert await storage.get("kyc/ten_1/kyc_1") == b"%PDF-1.7 first"
    await storage.put("kyc/ten_1/kyc_1", b"second", "application/pdf")
    assert await storage.get("kyc/ten_1/kyc_1") == b"second"
    await storage.delete("kyc/ten_1/kyc_1")
    with pytest.raises(StoredFileMissing):
        await storage.get("kyc/ten_1/kyc_1")
    await storage.delete("kyc/ten_1/kyc_1")  # deleting twice is fine


async def test_missing_key(storage: FileStorage) -> None:
    with pytest.raises(StoredFileMissing):
        await storage.get("kyc/ten_1/never")


async def test_large_binary_roundtrip(storage: FileStorage) -> None:
    data = bytes(range(256)) * (4 * 1024 * 10)  # 10 MiB, every byte value
    await storage.put("kyc/ten_2/big", data, "image/png")
    assert await storage.get("kyc/ten_2/big") == data


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_unsafe_keys_are_refused(storage: FileStorage, key: str) -> None:
    with pytest.raises(InvalidStorageKey):
        await storage.put(key, b"x", "application/pdf")
    with pytest.raises(InvalidStorageKey):
        await storage.get(key)
    with pytest.raises(InvalidStorageKey):
        await storage.delete(key)


async def test_local_layout_permissions_and_no_temp_left(tmp_path: Path) -> None:
    root = tmp_path / "files"
    storage = LocalStorage(root)
    await storage.put("kyc/ten_1/kyc_1", b"data", "application/pdf")
    path = root / "kyc" / "ten_1" / "kyc_1"
    assert path.read_bytes() == b"data"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((root / "kyc").stat().st_mode) == 0o700
    await storage.put("kyc/ten_1/kyc_1", b"replaced", "application/pdf")
    assert sorted(os.listdir(path.parent)) == ["kyc_1"]  # the temp file was renamed over the target


async def test_local_failed_write_leaves_no_temp_file(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    await storage.put("kyc/a", b"old", "application/pdf")
    # "kyc" is a directory now: the rename over it fails after the temp file was written.
    with pytest.raises(IsADirectoryError):
        await storage.put("kyc", b"new", "application/pdf")
    assert os.listdir(tmp_path) == ["kyc"]
    assert os.listdir(tmp_path / "kyc") == ["a"]
    assert await storage.get("kyc/a") == b"old"


async def test_local_symlink_out_of_root_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "kyc").symlink_to(outside)
    storage = LocalStorage(root)
    with pytest.raises(InvalidStorageKey):
        await storage.put("kyc/x", b"x", "application/pdf")
    assert os.listdir(outside) == []


async def test_s3_stores_content_type(s3_endpoint: str) -> None:
    storage = make_s3(s3_endpoint, "content-type-check")
    await storage.put("kyc/ten_1/kyc_9", b"\x89PNG\r\n\x1a\n", "image/png")
    head = storage._s3().head_object(Bucket="content-type-check", Key="kyc/ten_1/kyc_9")
    assert head["ContentType"] == "image/png"
    assert head["ContentLength"] == 8


def test_build_storage_from_settings(tmp_path: Path) -> None:
    local = build_storage(make_settings(data_dir=tmp_path))
    assert isinstance(local, LocalStorage)
    assert local.root == tmp_path / "uploads"
    chosen = build_storage(make_settings(storage_dir=tmp_path / "elsewhere"))
    assert isinstance(chosen, LocalStorage)
    assert chosen.root == tmp_path / "elsewhere"
    s3 = build_storage(
        make_settings(
            storage_backend="s3", s3_bucket="docs", s3_endpoint_url="https://acct.r2.example", s3_region="auto"
        )
    )
    assert isinstance(s3, S3Storage)
    assert s3.bucket == "docs"
    with pytest.raises(ValueError, match="DURO_S3_BUCKET"):
        build_storage(make_settings(storage_backend="s3"))
