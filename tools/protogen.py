"""Generate Python code and the descriptor set from ``proto/``.

``make gen`` runs this into ``gen/``; the freshness test runs it into a
temporary directory and compares. It also fills ``.buf-deps/`` with the
``google/api`` and ``google/rpc`` protos shipped by googleapis-common-protos,
so that ``buf lint`` can resolve imports without the Buf registry.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
DESCRIPTOR_NAME = "ccplane.binpb"
# Not imported by our protos, but the REST front doors need them to render
# google.rpc.Status bodies with their details.
EXTRA_DESCRIPTOR_INPUTS = ("google/rpc/status.proto", "google/rpc/error_details.proto")


def _googleapis_root() -> Path:
    import google.api  # from googleapis-common-protos

    return Path(next(iter(google.api.__path__))).parent.parent


def _well_known_root() -> Path:
    return Path(str(resources.files("grpc_tools") / "_proto"))


def _protoc(args: list[str]) -> None:
    from grpc_tools import protoc

    code = protoc.main(["protoc", *args])
    if code != 0:
        raise SystemExit(f"protoc failed ({code}): {' '.join(args)}")


def proto_files() -> list[str]:
    return sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))


def generate(out_dir: Path) -> None:
    """Write Python modules, typing stubs and the descriptor set to ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    includes = [f"-I{PROTO_DIR}", f"-I{_googleapis_root()}", f"-I{_well_known_root()}"]
    files = proto_files()
    _protoc(
        [*includes, f"--python_out={out_dir}", f"--pyi_out={out_dir}", f"--grpc_python_out={out_dir}", *files]
    )
    _protoc(
        [
            *includes,
            "--include_imports",
            "--include_source_info",
            f"--descriptor_set_out={out_dir / DESCRIPTOR_NAME}",
            *files,
            *EXTRA_DESCRIPTOR_INPUTS,
        ]
    )
    for package_dir in {(out_dir / f).parent for f in files} | {out_dir / "ccplane"}:
        (package_dir / "__init__.py").touch()
    (out_dir / "ccplane" / "py.typed").touch()


def fill_buf_deps(target: Path) -> None:
    """Copy google/api and google/rpc protos where buf.yaml expects them."""
    root = _googleapis_root()
    for sub in ("google/api", "google/rpc"):
        dest = target / sub
        dest.mkdir(parents=True, exist_ok=True)
        for src in (root / sub).glob("*.proto"):
            shutil.copyfile(src, dest / src.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "gen")
    parser.add_argument("--buf-deps", type=Path, default=ROOT / ".buf-deps")
    parser.add_argument("--deps-only", action="store_true", help="only fill --buf-deps")
    args = parser.parse_args(argv)
    if args.deps_only:
        fill_buf_deps(args.buf_deps)
        return 0
    if args.out.exists():
        shutil.rmtree(args.out)
    generate(args.out)
    fill_buf_deps(args.buf_deps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
