"""Dataset versions on every backend: add, references, status, diff, download, lineage."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.entities import DatasetKind, DatasetRole
from shipyard.errors import InvalidInputError, NotFoundError
from shipyard.services.data.service import DatasetService
from shipyard.store.tracking.sql import SqlTrackingStore
from tests.data_support import stores, write_tree

__all__ = ["stores"]

Stores = tuple[SqlTrackingStore, DatasetService]


def test_folder_versions_are_numbered_and_content_addressed(stores: Stores, tmp_path: Path
                                                            ) -> None:
    _, svc = stores
    raw = write_tree(tmp_path / "raw", {"a.csv": "id,x\n1,2\n", "sub/b.txt": "hello",
                                        "sub/c.txt": "hello"})
    first = svc.add(raw, "records")
    assert first.created and first.version.ref == "records@v1"
    assert first.version.kind is DatasetKind.FOLDER
    assert first.version.file_count == 3 and first.version.size == 9 + 5 + 5
    assert first.blobs_stored == 2  # b.txt and c.txt hold the same bytes: one blob

    again = svc.add(raw, "records")
    assert not again.created and again.version == first.version
    assert again.files_hashed == 0  # the stat cache knew every file

    write_tree(raw, {"sub/b.txt": "changed"})
    second = svc.add(raw, "records", description="b changed")
    assert second.version.ref == "records@v2" and second.version.parent == 1
    assert second.files_hashed == 1 and second.blobs_stored == 1
    assert second.version.description == "b changed"
    assert second.version.created_by == "alice"

    assert svc.resolve("records").version == 2
    assert svc.resolve("records@latest").version == 2
    assert svc.resolve("records@v1") == first.version
    assert svc.resolve(f"records@{first.version.digest[:8]}") == first.version
    assert [v.version for v in svc.list_versions("records")] == [1, 2]
    [(latest, count)] = svc.list_datasets()
    assert latest.version == 2 and count == 2


def test_same_content_under_a_new_name_shares_every_blob(stores: Stores, tmp_path: Path
                                                         ) -> None:
    _, svc = stores
    raw = write_tree(tmp_path / "raw", {"a.txt": "alpha", "b.txt": "beta"})
    svc.add(raw, "one")
    other = svc.add(raw, "two")
    assert other.created and other.blobs_stored == 0
    assert svc.resolve("one").digest == svc.resolve("two").digest


def test_download_restores_the_exact_files(stores: Stores, tmp_path: Path) -> None:
    _, svc = stores
    files = {"a.csv": "id\n1\n", "deep/er/b.bin": bytes(range(256)) * 40}
    raw = write_tree(tmp_path / "raw", files)
    svc.add(raw, "records")
    write_tree(raw, {"a.csv": "id\n2\n"})
    svc.add(raw, "records")
    out = tmp_path / "restore"
    written = svc.download("records@v1", out)
    assert len(written) == 2
    assert (out / "a.csv").read_text() == "id\n1\n"
    assert (out / "deep/er/b.bin").read_bytes() == files["deep/er/b.bin"]


def test_a_single_csv_file_records_schema_rows_and_profile(stores: Stores, tmp_path: Path
                                                           ) -> None:
    _, svc = stores
    path = tmp_path / "owners.csv"
    path.write_text("id,name,value\n1,ann,2.5\n2,bob,\n3,cy,4.0\n")
    version = svc.add(path, "owners").version
    assert version.kind is DatasetKind.FILE and version.file_count == 1
    assert version.row_count == 3
    assert [(c.name, c.type) for c in version.columns or ()] == [
        ("id", "int64"), ("name", "string"), ("value", "double")]
    assert version.profile is not None and version.profile["format"] == 1
    table = svc.read_table("owners@v1")
    assert table.column("name").to_pylist() == ["ann", "bob", "cy"]


def test_a_dataframe_round_trips_as_a_table(stores: Stores) -> None:
    pd = pytest.importorskip("pandas")
    _, svc = stores
    frame = pd.DataFrame({"id": [1, 2, 3], "city": ["Bern", None, "Basel"],
                          "score": [0.5, 0.25, 1.0]})
    version = svc.add(frame, "cities").version
    assert version.kind is DatasetKind.TABLE and version.row_count == 3
    back = svc.read_table("cities").to_pandas()
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)
    assert not svc.add(frame, "cities").created  # same table, same digest


def test_status_reports_added_modified_and_removed_files(stores: Stores, tmp_path: Path
                                                         ) -> None:
    _, svc = stores
    raw = write_tree(tmp_path / "raw", {"a.txt": "a", "b.txt": "b", "c.txt": "c"})
    fresh = svc.status(raw, "records")
    assert fresh.version is None and sorted(fresh.added) == ["a.txt", "b.txt", "c.txt"]
    svc.add(raw, "records")
    clean = svc.status(raw, "records")
    assert clean.clean and clean.unchanged == 3 and clean.files_hashed == 0
    write_tree(raw, {"b.txt": "B", "d.txt": "d"})
    (raw / "c.txt").unlink()
    dirty = svc.status(raw, "records")
    assert not dirty.clean
    assert (dirty.added, dirty.modified, dirty.removed) == (["d.txt"], ["b.txt"], ["c.txt"])
    assert dirty.files_hashed == 2


def test_diff_reports_files_schema_rows_and_column_drift(stores: Stores, tmp_path: Path
                                                         ) -> None:
    _, svc = stores
    path = tmp_path / "data.csv"
    path.write_text("id,amount\n" + "".join(f"{i},{i % 10}\n" for i in range(500)))
    svc.add(path, "sales")
    path.write_text("id,amount,region\n"
                    + "".join(f"{i},{i % 10 + 50},north\n" for i in range(600)))
    svc.add(path, "sales")
    d = svc.diff("sales@v1", "sales@v2")
    assert not d.identical
    assert d.files_modified == ["data.csv"] and not d.files_added and not d.files_removed
    assert [c.name for c in d.schema.added] == ["region"] and not d.schema.removed
    assert (d.rows_before, d.rows_after) == (500, 600)
    amount = next(c for c in d.columns if c["column"] == "amount")
    assert amount["drifted"] is True


def test_lineage_is_queryable_both_ways(stores: Stores, tmp_path: Path) -> None:
    tracking, svc = stores
    raw = write_tree(tmp_path / "raw", {"a.txt": "a"})
    v1 = svc.add(raw, "records").version
    write_tree(raw, {"a.txt": "A"})
    v2 = svc.add(raw, "records").version
    exp = tracking.create_experiment("lineage")
    run_a = tracking.create_run(exp, "a", user="alice", start_time=1).info.run_id
    run_b = tracking.create_run(exp, "b", user="alice", start_time=2).info.run_id
    svc.log_run_dataset(run_a, "records@v1")
    svc.log_run_dataset(run_a, "records@v1")  # idempotent
    svc.log_run_dataset(run_b, "records@v2")
    svc.log_run_dataset(run_b, v1, DatasetRole.OUTPUT)
    assert [(u.ref, u.role) for u in svc.run_datasets(run_b)] == [
        ("records@v2", DatasetRole.INPUT), ("records@v1", DatasetRole.OUTPUT)]
    assert {u.run_id for u in svc.dataset_runs("records@v1")} == {run_a, run_b}
    assert [u.run_id for u in svc.dataset_runs("records@v2")] == [run_b]
    assert len(svc.dataset_runs("records")) == 3
    assert svc.run_datasets(run_a)[0].digest == v1.digest != v2.digest
    with pytest.raises(NotFoundError, match="run"):
        svc.log_run_dataset("0" * 32, "records@v1")
    with pytest.raises(InvalidInputError, match="role"):
        svc.log_run_dataset(run_a, "records@v1", "eaten")  # type: ignore[arg-type]


# -- Bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["has space", "a/b", "", "@v1", "-dash-first", "x" * 201])
def test_bad_names_are_refused_before_anything_is_stored(stores: Stores, tmp_path: Path,
                                                         name: str) -> None:
    _, svc = stores
    raw = write_tree(tmp_path / "raw", {"a.txt": "a"})
    with pytest.raises(InvalidInputError) as caught:
        svc.add(raw, name)
    assert caught.value.field == "name"
    assert svc.list_datasets() == []


def test_bad_references_and_paths_get_clear_errors(stores: Stores, tmp_path: Path) -> None:
    _, svc = stores
    raw = write_tree(tmp_path / "raw", {"a.txt": "a"})
    svc.add(raw, "records")
    with pytest.raises(NotFoundError, match=r"no version v999 \(the latest is v1\)"):
        svc.resolve("records@v999")
    with pytest.raises(NotFoundError, match="does not exist"):
        svc.resolve("nothing@latest")
    with pytest.raises(InvalidInputError, match="at least 4"):
        svc.resolve("records@ab")
    with pytest.raises(InvalidInputError, match="not a dataset reference"):
        svc.resolve("records@V1!")
    with pytest.raises(NotFoundError, match="digest starting with"):
        svc.resolve("records@ffffffff" if not svc.resolve("records").digest.startswith("ff")
                    else "records@00000000")
    with pytest.raises(InvalidInputError, match="does not exist") as missing:
        svc.add(tmp_path / "nope", "records")
    assert missing.value.field == "path"
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match="holds no files"):
        svc.add(tmp_path / "empty", "records")
    with pytest.raises(InvalidInputError, match="not a table"):
        svc.read_table("records")
    assert [v.version for v in svc.list_versions("records")] == [1]


def test_an_ambiguous_digest_prefix_names_the_candidates(stores: Stores) -> None:
    _, svc = stores
    for digest in ("abcd" + "1" * 60, "abcd" + "2" * 60):
        svc.store.create_version("twins", digest=digest, kind=DatasetKind.FILE, size=1,
                                 file_count=1, created_by="alice")
    with pytest.raises(InvalidInputError, match="ambiguous") as caught:
        svc.resolve("twins@abcd")
    assert "twins@v2" in caught.value.message and "twins@v1" in caught.value.message
    assert svc.resolve("twins@abcd1").version == 1


def test_a_broken_link_is_named(stores: Stores, tmp_path: Path) -> None:
    _, svc = stores
    raw = write_tree(tmp_path / "raw", {"a.txt": "a"})
    (raw / "gone.txt").symlink_to(tmp_path / "missing")
    with pytest.raises(InvalidInputError, match=r"gone\.txt is a broken symbolic link"):
        svc.add(raw, "records")
    assert svc.list_datasets() == []


def test_unreadable_files_are_named(stores: Stores, tmp_path: Path) -> None:
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their permissions")
    _, svc = stores
    raw = write_tree(tmp_path / "raw", {"a.txt": "a", "secret.txt": "s"})
    (raw / "secret.txt").chmod(0)
    with pytest.raises(InvalidInputError, match=r"secret\.txt"):
        svc.add(raw, "records")
    assert svc.list_datasets() == []


def test_unsupported_dataframe_columns_are_named(stores: Stores) -> None:
    pd = pytest.importorskip("pandas")
    _, svc = stores
    frame = pd.DataFrame({"ok": [1, 2], "mixed": [1, "two"]})
    with pytest.raises(InvalidInputError, match="column 'mixed'"):
        svc.add(frame, "mixed")
    with pytest.raises(InvalidInputError, match="cannot store a dict"):
        svc.add({"a": 1}, "mixed")
    assert svc.list_datasets() == []


def test_many_small_files_go_into_packs_and_come_back_whole(stores: Stores, tmp_path: Path
                                                            ) -> None:
    import os

    from shipyard.errors import BackendError
    from shipyard.services.data.packs import PACK_MIN_FILES

    _, svc = stores
    count = PACK_MIN_FILES + 8
    files = {f"part-{i:03}.bin": os.urandom(1000 + i) for i in range(count)}
    raw = write_tree(tmp_path / "raw", files)
    first = svc.add(raw, "shards")
    assert first.blobs_stored == 1  # one pack, not one blob per file
    located = svc.store.pack_locations(f.digest for f in svc.manifest(first.version).files)
    assert len(located) == count and len({loc.pack for loc in located.values()}) == 1
    out = tmp_path / "out"
    svc.download("shards@v1", out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == files

    write_tree(raw, {"part-000.bin": b"changed"})
    second = svc.add(raw, "shards")
    assert second.blobs_stored == 1 and second.bytes_stored == len(b"changed")
    assert not svc.store.pack_locations([svc.manifest(second.version).by_path[
        "part-000.bin"].digest])  # a single new file is a blob of its own
    assert svc.add(raw, "copy").blobs_stored == 0  # packed content is found, not re-sent
    out2 = tmp_path / "out2"
    svc.download("shards@v2", out2)
    assert (out2 / "part-000.bin").read_bytes() == b"changed"
    assert (out2 / "part-001.bin").read_bytes() == files["part-001.bin"]

    pack = next(iter(located.values())).pack
    damaged = bytearray(svc.content.read_bytes(pack))
    damaged[located[svc.manifest(first.version).by_path["part-005.bin"].digest].offset] ^= 0xFF
    svc.content.backend.delete(f"blobs/{pack[:2]}/{pack[2:]}")
    svc.content.backend.put_bytes(f"blobs/{pack[:2]}/{pack[2:]}", bytes(damaged))
    with pytest.raises(BackendError, match="damaged"):
        svc.download("shards@v1", tmp_path / "out3")


def test_a_large_file_is_copied_while_it_is_hashed(stores: Stores, tmp_path: Path) -> None:
    import os

    from shipyard.services.data.big_files import OVERLAP_FROM

    _, svc = stores
    big = tmp_path / "big.bin"
    block = os.urandom(1 << 20)
    with big.open("wb") as out:
        for _ in range(OVERLAP_FROM // len(block) + 1):
            out.write(block)
    os.utime(big, ns=(big.stat().st_mtime_ns - 10**9,) * 2)
    first = svc.add(big, "weights")
    assert first.blobs_stored == 1 and first.bytes_stored == big.stat().st_size
    digest = svc.manifest(first.version).files[0].digest
    assert svc.content.read_bytes(digest) == big.read_bytes()
    again = svc.add(big, "weights")
    assert not again.created and again.files_hashed == 0
    assert svc.add(big, "copy").blobs_stored == 0
