"""Building archives, honest and hostile, for the workspace tests."""

from __future__ import annotations

import gzip
import io
import stat
import tarfile
import time
import zipfile
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    name: str
    content: bytes = b""
    mode: int = 0o644
    # tarfile member type: REGTYPE, DIRTYPE, SYMTYPE, LNKTYPE, CHRTYPE, FIFOTYPE
    kind: bytes = tarfile.REGTYPE
    link: str = ""


def tar_gz(*entries: Entry) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.type = entry.kind
            info.mode = entry.mode
            info.mtime = int(time.time())
            info.linkname = entry.link
            if entry.kind == tarfile.REGTYPE:
                info.size = len(entry.content)
                archive.addfile(info, io.BytesIO(entry.content))
            else:
                archive.addfile(info)
    return buffer.getvalue()


def zip_bytes(*entries: Entry, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for entry in entries:
            info = zipfile.ZipInfo(entry.name, date_time=(2024, 5, 1, 12, 0, 0))
            info.create_system = 3
            kind = {
                tarfile.REGTYPE: stat.S_IFREG,
                tarfile.DIRTYPE: stat.S_IFDIR,
                tarfile.SYMTYPE: stat.S_IFLNK,
                tarfile.FIFOTYPE: stat.S_IFIFO,
                tarfile.CHRTYPE: stat.S_IFCHR,
            }[entry.kind]
            info.external_attr = (kind | entry.mode) << 16
            info.compress_type = compression
            archive.writestr(info, entry.link.encode() if entry.kind == tarfile.SYMTYPE else entry.content)
    return buffer.getvalue()


def gzip_of_tar_with_huge_pax_header(size: int) -> bytes:
    """A .tar.gz whose first header claims a pax record of ``size`` bytes of zeros."""
    header = tarfile.TarInfo("././@PaxHeader")
    header.type = tarfile.XHDTYPE
    header.size = size
    raw = header.tobuf(format=tarfile.USTAR_FORMAT)
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as gz:
        gz.write(raw)
        block = b"\0" * (1024 * 1024)
        for _ in range(size // len(block) + 1):
            gz.write(block)
    return out.getvalue()


def zip_bomb(expanded: int) -> bytes:
    """One deflated entry of ``expanded`` zero bytes (a few KiB compressed)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("zeros.bin")
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w") as out:
            block = b"\0" * (1024 * 1024)
            written = 0
            while written < expanded:
                out.write(block[: min(len(block), expanded - written)])
                written += len(block)
    return buffer.getvalue()
