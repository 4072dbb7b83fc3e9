"""``open_store``: the URLs of CCPLANE_OBJECT_STORE_URL and what they open."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.objectstore import LocalObjectStore, S3ObjectStore, open_store, store_url_from_env
from common.objectstore.s3 import DEFAULT_PART_SIZE


def test_default_is_a_directory_under_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store("", data_dir=tmp_path)
    assert isinstance(store, LocalObjectStore)
    assert store.root == (tmp_path / "objects").resolve()
    monkeypatch.delenv("CCPLANE_OBJECT_STORE_URL", raising=False)
    assert store_url_from_env(tmp_path) == (tmp_path / "objects").resolve().as_uri()
    monkeypatch.setenv("CCPLANE_OBJECT_STORE_URL", "s3://bucket")
    assert store_url_from_env(tmp_path) == "s3://bucket"


def test_file_url(tmp_path: Path) -> None:
    store = open_store((tmp_path / "o b").as_uri())
    assert isinstance(store, LocalObjectStore)
    assert store.root == (tmp_path / "o b").resolve()


def test_s3_url() -> None:
    store = open_store(
        "s3://ccplane-objects/prod/eu?endpoint=http://rustfs:9000&region=eu-west-1&part_size=16777216"
    )
    assert isinstance(store, S3ObjectStore)
    where = store._where
    assert (where.bucket, where.prefix, where.endpoint_url, where.region) == (
        "ccplane-objects",
        "prod/eu",
        "http://rustfs:9000",
        "eu-west-1",
    )
    assert where.addressing_style == "path", "an explicit endpoint means RustFS/MinIO: path style"
    assert store._part_size == 16 * 1024 * 1024

    aws = open_store("s3://bucket")
    assert isinstance(aws, S3ObjectStore)
    assert (aws._where.prefix, aws._where.endpoint_url, aws._where.addressing_style) == ("", None, "auto")
    assert aws._part_size == DEFAULT_PART_SIZE


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://x", "scheme"),
        ("file://host/path", "file:///"),
        ("file:relative", "absolute"),
        ("s3://", "bucket"),
        ("s3://key:secret@bucket", "credentials"),
        ("s3://bucket?endpoint=ftp://x", "endpoint"),
        ("s3://bucket?addressing=sideways", "addressing"),
        ("s3://bucket?part_size=1", "part_size"),
        ("s3://bucket?part_size=lots", "part_size"),
        ("s3://bucket?colour=blue", "unknown"),
        ("s3://bucket/../x", "invalid"),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_store(url)


def test_no_url_and_no_data_dir() -> None:
    with pytest.raises(ValueError, match="CCPLANE_OBJECT_STORE_URL"):
        open_store("")
