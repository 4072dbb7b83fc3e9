"""Reading archives: what is accepted, and every hostile shape refused."""

from __future__ import annotations

import tarfile
from pathlib import Path

import grpc
import pytest

from common.errors import ServiceError
from common.objectstore import LocalObjectStore
from common.objectstore.layout import blob_key
from control_plane.workspaces.archive import files_from_archive
from control_plane.workspaces.limits import WorkspaceLimits
from tests.unit.workspaces.archives import (
    Entry,
    gzip_of_tar_with_huge_pax_header,
    tar_gz,
    zip_bomb,
    zip_bytes,
)

KiB = 1024
LIMITS = WorkspaceLimits(
    max_file_bytes=256 * KiB, max_workspace_bytes=512 * KiB, max_files=10, max_archive_entries=16
)


@pytest.fixture
def objects(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects", fsync=False)


async def test_tar_and_zip_are_read(objects: LocalObjectStore) -> None:
    entries = (
        Entry("./a/", kind=tarfile.DIRTYPE),
        Entry("./a/x.sh", b"#!", mode=0o755),
        Entry("b.txt", b"b"),
    )
    for data in (tar_gz(*entries), zip_bytes(*entries)):
        files = await files_from_archive(objects, data, LIMITS)
        assert sorted(files) == ["a/x.sh", "b.txt"]
        assert files["a/x.sh"].mode == 0o755
        assert files["b.txt"].mode == 0o644
        assert await objects.get_bytes(blob_key(files["b.txt"].sha256)) == b"b"


HOSTILE = {
    "zip-slip parent": (Entry("../evil.sh", b"x"),),
    "zip-slip nested": (Entry("ok/../../evil.sh", b"x"),),
    "absolute": (Entry("/etc/cron.d/evil", b"x"),),
    "backslash": (Entry("..\\evil", b"x"),),
    "encoded": (Entry("%2e%2e/evil", b"x"),),
    "symlink out": (Entry("link", kind=tarfile.SYMTYPE, link="/etc/passwd"),),
    "symlink then write through": (
        Entry("dir", kind=tarfile.SYMTYPE, link="/tmp"),
        Entry("dir/file", b"x"),
    ),
    "fifo": (Entry("pipe", kind=tarfile.FIFOTYPE),),
    "device": (Entry("dev", kind=tarfile.CHRTYPE),),
    "duplicate": (Entry("same", b"1"), Entry("same", b"2")),
    "file and directory": (Entry("x", b"1"), Entry("x/y", b"2")),
}


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_hostile_archives_are_refused(objects: LocalObjectStore, fmt: str, case: str) -> None:
    entries = HOSTILE[case]
    data = tar_gz(*entries) if fmt == "tar.gz" else zip_bytes(*entries)
    with pytest.raises(ServiceError) as caught:
        await files_from_archive(objects, data, LIMITS)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.violations[0].field == "archive"
    assert [i async for i in objects.list("blobs/")] == [], "nothing stored from a refused archive"


async def test_hard_links_are_refused(objects: LocalObjectStore) -> None:
    data = tar_gz(Entry("a", b"x"), Entry("b", kind=tarfile.LNKTYPE, link="a"))
    with pytest.raises(ServiceError, match="links"):
        await files_from_archive(objects, data, LIMITS)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (zip_bomb(4 * 1024 * KiB), "FILE_TOO_LARGE"),
        (tar_gz(*(Entry(f"f{i}", b"z" * 200 * KiB) for i in range(3))), "WORKSPACE_TOO_LARGE"),
        (tar_gz(*(Entry(f"f{i}", b"") for i in range(11))), "TOO_MANY_FILES"),
        (tar_gz(*(Entry(f"d{i}/", kind=tarfile.DIRTYPE) for i in range(17))), "ARCHIVE_TOO_MANY_ENTRIES"),
        (zip_bytes(*(Entry(f"d{i}/", kind=tarfile.DIRTYPE) for i in range(17))), "ARCHIVE_TOO_MANY_ENTRIES"),
    ],
)
async def test_bombs_stop_at_the_limits(objects: LocalObjectStore, data: bytes, reason: str) -> None:
    with pytest.raises(ServiceError) as caught:
        await files_from_archive(objects, data, LIMITS)
    assert (caught.value.code, caught.value.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, reason)


async def test_a_gzip_bomb_in_a_tar_header_is_refused_without_reading_it(objects: LocalObjectStore) -> None:
    data = gzip_of_tar_with_huge_pax_header(64 * 1024 * KiB)
    assert len(data) < 200 * KiB
    with pytest.raises(ServiceError) as caught:
        await files_from_archive(objects, data, LIMITS)
    assert caught.value.code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED)


async def test_not_an_archive(objects: LocalObjectStore) -> None:
    for data in (b"plain text", b"\x1f\x8bnot really gzip", b"PK\x03\x04broken zip"):
        with pytest.raises(ServiceError) as caught:
            await files_from_archive(objects, data, LIMITS)
        assert caught.value.violations[0].field == "archive"


async def test_a_zip_name_with_a_nul_byte_is_refused(objects: LocalObjectStore) -> None:
    # Python's writer cuts names at NUL, so write "aXb" and patch the bytes.
    data = zip_bytes(Entry("aXb.txt", b"x")).replace(b"aXb.txt", b"a\0b.txt")
    with pytest.raises(ServiceError, match="NUL") as caught:
        await files_from_archive(objects, data, LIMITS)
    assert caught.value.violations[0].field == "archive"
