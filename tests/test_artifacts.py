"""The artifact layer: one set of assertions run on every byte backend (file, memory, S3)."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import blake3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipyard.artifacts import (
    Blob,
    ByteStore,
    ContentStore,
    hash_bytes,
    hash_file,
    join_artifact_path,
    open_content_store,
    safe_artifact_path,
)
from shipyard.artifacts.backend import TEMP_MARK, s3_endpoint_url
from shipyard.errors import BackendError, InvalidInputError, NotFoundError
from tests.s3_server import s3_bucket_url, s3_server  # noqa: F401  (fixtures)

MiB = 1 << 20


def b3(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


@pytest.fixture(params=["file", "memory", "s3"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty store on each backend."""
    if request.param == "file":
        yield (tmp_path / "store").as_uri()
    elif request.param == "memory":
        from fsspec.implementations.memory import MemoryFileSystem

        name = f"shipyard-test-{uuid.uuid4().hex}"
        yield f"memory://{name}"
        fs = MemoryFileSystem()
        if fs.exists(f"/{name}"):
            fs.rm(f"/{name}", recursive=True)
    else:
        yield request.getfixturevalue("s3_bucket_url")


@pytest.fixture
def content(store_url: str) -> ContentStore:
    return open_content_store(store_url)


def blob_keys(store: ContentStore) -> list[str]:
    return list(store.backend.list("blobs/"))


# -- content store, every backend ---------------------------------------------------------------


def test_bytes_round_trip(content: ContentStore) -> None:
    data = b"entity resolution model v1"
    blob = content.put_bytes(data)
    assert blob == Blob(b3(data), len(data)) == hash_bytes(data)
    assert content.exists(blob.digest)
    assert content.read_bytes(blob.digest) == data
    assert content.size(blob.digest) == len(data)
    assert blob_keys(content) == [f"blobs/{blob.digest[:2]}/{blob.digest[2:]}"]


def test_empty_content(content: ContentStore) -> None:
    blob = content.put_bytes(b"")
    assert blob.size == 0
    assert content.read_bytes(blob.digest) == b""


def test_file_round_trip(content: ContentStore, tmp_path: Path) -> None:
    source = tmp_path / "model.bin"
    source.write_bytes(b"\x00\x01weights" * 1000)
    blob = content.put_file(source)
    assert blob == hash_file(source) == Blob(b3(source.read_bytes()), source.stat().st_size)
    dest = tmp_path / "out" / "nested" / "model.bin"
    content.get_file(blob.digest, dest)
    assert dest.read_bytes() == source.read_bytes()


def test_same_content_stored_once(content: ContentStore, tmp_path: Path) -> None:
    data = b"same bytes" * 100
    source = tmp_path / "a.txt"
    source.write_bytes(data)
    first = content.put_bytes(data)
    second = content.put_bytes(data)
    third = content.put_file(source)
    assert first == second == third
    other = content.put_bytes(b"other bytes")
    assert sorted(blob_keys(content)) == sorted(
        f"blobs/{d[:2]}/{d[2:]}" for d in {first.digest, other.digest}
    )


def test_open_streams(content: ContentStore) -> None:
    data = os.urandom(3 * MiB + 17)
    blob = content.put_bytes(data)
    chunks = []
    with content.open(blob.digest) as reader:
        while chunk := reader.read(MiB):
            chunks.append(chunk)
    assert len(chunks) == 4
    assert b"".join(chunks) == data


def test_missing_digest(content: ContentStore, tmp_path: Path) -> None:
    digest = b3(b"never stored")
    assert not content.exists(digest)
    dest = tmp_path / "dest.bin"
    for call in (content.open, content.read_bytes, content.size,
                 lambda d: content.get_file(d, dest)):
        with pytest.raises(NotFoundError) as info:
            call(digest)
        assert info.value.field == "digest"
        assert digest in info.value.message
    assert not dest.exists()
    assert not [p for p in tmp_path.rglob("*") if TEMP_MARK in p.name]


@pytest.mark.parametrize("digest", [
    "", "abc", "A" * 64, "g" * 64, "a" * 63, "a" * 65, "../" + "a" * 61, None, 42,
])
def test_bad_digest(content: ContentStore, tmp_path: Path, digest: object) -> None:
    for call in (content.exists, content.open, content.read_bytes, content.size,
                 lambda d: content.get_file(d, tmp_path / "x")):
        with pytest.raises(InvalidInputError) as info:
            call(digest)  # type: ignore[arg-type]
        assert info.value.field == "digest"


def test_writes_leave_no_temp_files(content: ContentStore, store_url: str,
                                    tmp_path: Path) -> None:
    source = tmp_path / "f.bin"
    source.write_bytes(b"file content")
    digests = {content.put_bytes(b"x").digest, content.put_file(source).digest}
    content.get_file(content.put_bytes(b"y").digest, tmp_path / "got.bin")
    keys = blob_keys(content)
    assert len(keys) == 3 and len(digests) == 2
    assert list(content.backend.list()) == keys
    every_name = [name for _, _, names in os.walk(tmp_path) for name in names]
    assert not [name for name in every_name if TEMP_MARK in name]


def test_large_file_round_trip(content: ContentStore, tmp_path: Path) -> None:
    data = os.urandom(9 * MiB + 3)  # above the multithreaded-hashing threshold
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    blob = content.put_file(source)
    assert blob == Blob(b3(data), len(data))
    assert content.size(blob.digest) == len(data)
    dest = tmp_path / "big.out"
    content.get_file(blob.digest, dest)
    assert b3(dest.read_bytes()) == blob.digest


def test_put_missing_local_file(content: ContentStore, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as info:
        content.put_file(tmp_path / "nope.bin")
    assert info.value.field == "local_path"
    with pytest.raises(InvalidInputError):
        content.put_file(tmp_path)


# -- byte store, every backend ------------------------------------------------------------------


def test_byte_store_operations(store_url: str, tmp_path: Path) -> None:
    store = ByteStore(store_url)
    assert list(store.list()) == []
    assert not store.exists("a/b.txt")
    store.put_bytes("a/b.txt", b"bee")
    store.put_bytes("a/c.txt", b"sea")
    source = tmp_path / "d.txt"
    source.write_bytes(b"dee")
    store.put_file("d/d.txt", source)
    assert store.exists("a/b.txt") and not store.exists("a")
    assert store.size("d/d.txt") == 3
    assert list(store.list()) == ["a/b.txt", "a/c.txt", "d/d.txt"]
    assert list(store.list("a/")) == ["a/b.txt", "a/c.txt"]
    assert list(store.list("a/b")) == ["a/b.txt"]
    assert list(store.list("zz/")) == []
    with store.open("a/c.txt") as reader:
        assert reader.read() == b"sea"
    store.put_bytes("a/b.txt", b"bumblebee")  # replaced whole
    store.get_file("a/b.txt", tmp_path / "got.txt")
    assert (tmp_path / "got.txt").read_bytes() == b"bumblebee"
    store.delete("a/b.txt")
    assert not store.exists("a/b.txt")
    assert list(store.list()) == ["a/c.txt", "d/d.txt"]


def test_byte_store_missing_keys(store_url: str, tmp_path: Path) -> None:
    store = ByteStore(store_url)
    store.put_bytes("k/present", b"1")
    calls = (store.open, store.size, store.delete,
             lambda key: store.get_file(key, tmp_path / "out"))
    for call in calls:
        with pytest.raises(NotFoundError):
            call("k/missing")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "./a", "a\\b"])
def test_byte_store_bad_keys(key: str) -> None:
    store = ByteStore("memory://shipyard-test-bad-keys")
    with pytest.raises(InvalidInputError) as info:
        store.put_bytes(key, b"")
    assert info.value.field == "key"


# -- local specifics ----------------------------------------------------------------------------


def test_plain_local_path_and_file_url_name_the_same_store(tmp_path: Path) -> None:
    blob = open_content_store(str(tmp_path / "s")).put_bytes(b"shared")
    assert open_content_store((tmp_path / "s").as_uri()).read_bytes(blob.digest) == b"shared"
    assert (tmp_path / "s" / "blobs" / blob.digest[:2] / blob.digest[2:]).is_file()


def test_failed_local_write_leaves_nothing(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    content = open_content_store((tmp_path / "store").as_uri())

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(BackendError) as info:
        content.put_bytes(b"never lands")
    assert (tmp_path / "store").as_uri() in info.value.message
    monkeypatch.undo()
    assert [p for p in (tmp_path / "store").rglob("*") if p.is_file()] == []
    assert not content.exists(b3(b"never lands"))


def test_unusable_local_root_is_a_backend_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"not a folder")
    url = (blocker / "store").as_uri()
    with pytest.raises(BackendError) as info:
        open_content_store(url).put_bytes(b"x")
    assert url in info.value.message


def test_file_changed_while_stored_is_refused(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    content = open_content_store((tmp_path / "store").as_uri())
    source = tmp_path / "growing.log"
    source.write_bytes(b"line 1\n")
    real_put_file = ByteStore.put_file

    def put_then_append(self: ByteStore, key: str, local_path: str | os.PathLike[str]) -> None:
        real_put_file(self, key, local_path)
        with open(local_path, "ab") as file:
            file.write(b"line 2\n")

    monkeypatch.setattr(ByteStore, "put_file", put_then_append)
    with pytest.raises(InvalidInputError) as info:
        content.put_file(source)
    assert info.value.field == "local_path"
    assert blob_keys(content) == []


# -- S3 specifics -------------------------------------------------------------------------------


def test_s3_listing_sees_writes_from_elsewhere(s3_bucket_url: str, s3_server: str) -> None:  # noqa: F811
    import boto3

    store = ByteStore(s3_bucket_url)
    store.put_bytes("x/one", b"1")
    assert list(store.list()) == ["x/one"]
    bucket = s3_bucket_url.removeprefix("s3://").split("/")[0]
    client = boto3.client("s3", endpoint_url=s3_server)
    client.put_object(Bucket=bucket, Key="prefix/x/two", Body=b"2")
    client.delete_object(Bucket=bucket, Key="prefix/x/one")
    client.close()
    assert list(store.list()) == ["x/two"]
    assert not store.exists("x/one")
    assert store.exists("x/two")


def test_s3_missing_bucket_is_a_backend_error(s3_server: str) -> None:  # noqa: F811
    url = f"s3://shipyard-no-such-bucket-{uuid.uuid4().hex[:8]}/p"
    with pytest.raises(BackendError) as info:
        ByteStore(url).put_bytes("k", b"x")
    assert url in info.value.message


def test_s3_specific_endpoint_wins(s3_bucket_url: str, s3_server: str,  # noqa: F811
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server)
    content = open_content_store(s3_bucket_url)
    assert content.read_bytes(content.put_bytes(b"via the S3 endpoint").digest)


def test_s3_endpoint_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    assert s3_endpoint_url() is None
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://general:9000")
    assert s3_endpoint_url() == "http://general:9000"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://s3-only:9000")
    assert s3_endpoint_url() == "http://s3-only:9000"


# -- hashing ------------------------------------------------------------------------------------


def test_hash_helpers_agree(tmp_path: Path) -> None:
    data = os.urandom(2 * MiB + 5)
    (tmp_path / "f").write_bytes(data)
    assert hash_file(tmp_path / "f") == hash_bytes(data) == Blob(b3(data), len(data))
    assert hash_bytes(io.BytesIO(b"").getvalue()) == Blob(b3(b""), 0)


# -- artifact paths -----------------------------------------------------------------------------

BAD_PATHS = [
    "", ".", "./", "a/..", "/x", "//x", "C:/x", "c:x", "../x", "a/../../x", "a/./../..",
    "a\x00b", "a\\b", "..\\x", "x" * 1001, "a:b",
]


@pytest.mark.parametrize("path", BAD_PATHS)
def test_bad_artifact_paths(path: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        safe_artifact_path(path)
    assert info.value.field == "artifact path"
    with pytest.raises(InvalidInputError) as info:
        safe_artifact_path(path, field="dest")
    assert info.value.field == "dest"


@pytest.mark.parametrize(("path", "expected"), [
    ("a", "a"), ("a//b/./c", "a/b/c"), ("a/b/", "a/b"), ("./a", "a"), ("a/../b", "b"),
    ("a/b/../../c", "c"), ("...", "..."), ("a/..b/c..", "a/..b/c.."),
    ("sp ace/ü.txt", "sp ace/ü.txt"),
    ("x" * 1000, "x" * 1000), ("ab:c", "ab:c"), ("x/C:/y", "x/C:/y"),
])
def test_good_artifact_paths(path: str, expected: str) -> None:
    assert safe_artifact_path(path) == expected


@pytest.mark.parametrize("path", ["", ".", "a/..", "./"])
def test_root_only_when_allowed(path: str) -> None:
    assert safe_artifact_path(path, allow_root=True) == ""


def test_root_flag_still_refuses_escapes() -> None:
    for path in ("/", "..", "a/../.."):
        with pytest.raises(InvalidInputError):
            safe_artifact_path(path, allow_root=True)


def test_not_a_string() -> None:
    with pytest.raises(InvalidInputError) as info:
        safe_artifact_path(None)  # type: ignore[arg-type]
    assert info.value.field == "artifact path"


def test_join_artifact_path() -> None:
    assert join_artifact_path(None, "model.pkl") == "model.pkl"
    assert join_artifact_path("", "model.pkl") == "model.pkl"
    assert join_artifact_path("models//v1/", "model.pkl") == "models/v1/model.pkl"
    assert join_artifact_path("a", "b/c") == "a/b/c"
    for folder, name in (("a", "../x"), ("a", ""), ("../a", "x"), ("a", "/x")):
        with pytest.raises(InvalidInputError):
            join_artifact_path(folder, name)


_PIECES = st.sampled_from(["a", "b", ".", "..", "/", "\\", ":", "C", " ", "\x00", "ü"])


@given(st.lists(_PIECES, max_size=30).map("".join) | st.text(max_size=60))
def test_safe_artifact_path_never_escapes(path: str) -> None:
    try:
        result = safe_artifact_path(path, allow_root=True)
    except InvalidInputError as exc:
        assert exc.field == "artifact path"
        return
    assert not result.startswith("/")
    assert ".." not in result.split("/")
    assert "" not in result.split("/") or result == ""
    assert "." not in result.split("/")
    assert safe_artifact_path(result, allow_root=True) == result  # idempotent
