"""Build ccplane's container images on a machine where no image can be pulled.

``python -m tools.docker.images COMMAND`` (``make image`` runs ``image``):

- ``engine``: make sure a Docker engine answers; start ``dockerd`` in the
  background (log: ``/var/log/ccplane-dockerd.log``) when none does.
- ``base``: a Debian bookworm base image with Python 3.11, made with
  ``debootstrap`` from the mirror apt uses here and ``docker import``ed.
- ``wheelhouse``: a wheel for every pinned dependency of the image (the
  versions ``make install`` put in ``.venv``), in a cache directory outside the
  repository, made with ``pip wheel``.
- ``image``: the ``Dockerfile`` built on that base, offline, from that
  wheelhouse (``--build-arg BASE_IMAGE=… --build-arg WHEELHOUSE=…``).
- ``smoke-images``: PostgreSQL, Prometheus and Alertmanager from Debian's
  packages on the same base (``deploy/smoke/*/Dockerfile``), for the
  deployment smoke test (``deploy/docker-compose.smoke.yml``).

Each command prints the tag it made. Every image is tagged by a hash of its
inputs, and a tag the engine already has is not built again: the engine's
images outlive a test run, so only what changed is rebuilt.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("CCPLANE_DOCKER_CACHE", "/var/cache/ccplane"))
DOCKERD_LOG = Path("/var/log/ccplane-dockerd.log")

SUITE = "bookworm"
# What every image built on the base needs: Python 3.11 with venv and CA
# certificates. Not Debian's bubblewrap: the pinned codex binary carries its
# own, and a bwrap on PATH breaks Codex's command sandbox (see the Dockerfile).
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
BASE_REPOSITORY = "ccplane-base"
IMAGE_REPOSITORY = "ccplane"
SMOKE_IMAGES = ("postgres", "prometheus", "alertmanager")
SMOKE_DIR = ROOT / "deploy" / "smoke"

# What the Dockerfile copies from the repository (besides the wheelhouse).
IMAGE_INPUTS = (
    "Dockerfile",
    ".dockerignore",
    "pyproject.toml",
    "README.md",
    "common",
    "control_plane",
    "executor",
    "executor_manager",
    "gateway",
    "gen",
    "portal/dist",
)
SKIPPED = re.compile(r"(^|/)(__pycache__|node_modules)(/|$)|\.pyc$")


# The classic builder: it needs no buildx plugin and builds FROM local images only.
BUILD_ENV = {**os.environ, "DOCKER_BUILDKIT": "0"}


def log(message: str) -> None:
    print(f"[images] {message}", file=sys.stderr, flush=True)


def run(*command: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, check=True, text=True, **kwargs)


def succeeds(*command: str) -> bool:
    quiet = subprocess.DEVNULL
    return subprocess.run(command, check=False, stdout=quiet, stderr=quiet).returncode == 0


def docker_ok() -> bool:
    return succeeds("docker", "info")


def ensure_engine(timeout: float = 90.0) -> None:
    """A Docker engine that answers; ``dockerd`` started in the background if
    none does (it keeps running afterwards, with its images, for the next run)."""
    if docker_ok():
        return
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise SystemExit("no Docker engine and no dockerd: `make system` installs Debian's docker.io")
    if os.geteuid() != 0:
        raise SystemExit("no Docker engine answers, and starting dockerd needs root")
    log(f"starting dockerd (log: {DOCKERD_LOG})")
    with DOCKERD_LOG.open("ab") as out:
        subprocess.Popen(
            [dockerd],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
            close_fds=True,
        )
    deadline = time.monotonic() + timeout
    while not docker_ok():
        if time.monotonic() > deadline:
            tail = DOCKERD_LOG.read_text(errors="replace")[-2000:]
            raise SystemExit(f"dockerd did not answer within {timeout:.0f} s; its log ends:\n{tail}")
        time.sleep(0.5)


def image_exists(tag: str) -> bool:
    return succeeds("docker", "image", "inspect", tag)


def digest(parts: Iterable[bytes]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:16]


def files_under(root: Path, names: Iterable[str]) -> Iterator[tuple[str, Path]]:
    """(relative name, path) of every regular file of ``names`` under ``root``, sorted."""
    for name in names:
        path = root / name
        if path.is_file():
            yield name, path
            continue
        if not path.is_dir():
            raise SystemExit(f"{path} is missing (`make install` builds portal/dist)")
        for file in sorted(path.rglob("*")):
            rel = file.relative_to(root).as_posix()
            if file.is_file() and not file.is_symlink() and not SKIPPED.search(rel):
                yield rel, file


def files_digest(files: Iterable[tuple[str, Path]], *extra: str) -> str:
    def parts() -> Iterator[bytes]:
        yield from (e.encode() for e in extra)
        for rel, path in files:
            yield rel.encode()
            yield path.read_bytes()

    return digest(parts())


# --- the base image ---------------------------------------------------------


def apt_mirror() -> str:
    """The Debian mirror apt uses on this machine (deb822 or one-line sources)."""
    sources = [Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")]
    sources += sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
    sources += sorted(Path("/etc/apt/sources.list.d").glob("*.list"))
    for source in sources:
        if not source.is_file():
            continue
        text = source.read_text()
        for match in re.finditer(r"^URIs:\s*(\S+)", text, re.M):
            if not match.group(1).rstrip("/").endswith("-security"):
                return match.group(1)
        for match in re.finditer(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+" + SUITE + r"\s", text, re.M):
            return match.group(1)
    return "http://deb.debian.org/debian"


def base_image() -> str:
    """``ccplane-base:bookworm-<hash>``: debootstrap's minbase with Python 3.11."""
    tag = f"{BASE_REPOSITORY}:{SUITE}-" + digest([SUITE.encode(), " ".join(BASE_PACKAGES).encode(), b"v1"])
    if image_exists(tag):
        log(f"base image {tag} exists")
        return tag
    if shutil.which("debootstrap") is None:
        raise SystemExit("debootstrap is missing: `make system` installs it")
    mirror = apt_mirror()
    CACHE.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rootfs-", dir=CACHE) as rootfs:
        log(f"debootstrap {SUITE} from {mirror} (about a minute)")
        run(
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(BASE_PACKAGES)}",
            SUITE,
            rootfs,
            mirror,
            stdout=subprocess.DEVNULL,
        )
        root = Path(rootfs)
        # apt in images built on this base uses the same mirror, with updates and security.
        host_sources = Path("/etc/apt/sources.list.d/debian.sources")
        if host_sources.is_file():
            (root / "etc/apt/sources.list.d/debian.sources").write_text(host_sources.read_text())
            (root / "etc/apt/sources.list").unlink(missing_ok=True)
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for entry in (root / junk).glob("*"):
                if entry.is_file():
                    entry.unlink()
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        run(
            "docker",
            "import",
            "--change",
            "ENV LANG=C.UTF-8",
            "--change",
            'CMD ["/bin/bash"]',
            "-",
            tag,
            stdin=tar.stdout,
            stdout=subprocess.DEVNULL,
        )
        if tar.wait() != 0:
            raise SystemExit("tar of the base root file system failed")
    log(f"base image {tag} made in {time.monotonic() - started:.0f} s")
    return tag


# --- the wheelhouse ---------------------------------------------------------


def _requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [*project["project"]["dependencies"], *project["build-system"]["requires"]]


def _constraints(python: Path) -> list[str]:
    """The versions installed in ``.venv`` (what ``make test`` tested), ccplane itself left out."""
    frozen = run(str(python), "-m", "pip", "freeze", "--exclude-editable", stdout=subprocess.PIPE).stdout
    lines = [line.strip() for line in frozen.splitlines()]
    return sorted(
        line for line in lines if "==" in line and "@" not in line and not line.startswith(("ccplane==", "-"))
    )


def wheelhouse() -> Path:
    """``<cache>/wheelhouse``: a wheel for each dependency of the image, the
    versions pinned by ``constraints.txt`` (made from ``.venv``)."""
    python = ROOT / ".venv" / "bin" / "python"
    if not python.exists():
        python = Path(sys.executable)
    requirements = _requirements()
    constraints = _constraints(python)
    stamp = digest(["\n".join(requirements).encode(), "\n".join(constraints).encode()])
    target = CACHE / "wheelhouse"
    if (target / ".stamp").is_file() and (target / ".stamp").read_text().strip() == stamp:
        log(f"wheelhouse {target} is up to date")
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    staging = Path(tempfile.mkdtemp(prefix="wheelhouse-", dir=CACHE))
    try:
        # Wheels already made keep pip from downloading them again.
        if target.is_dir():
            for wheel in target.glob("*.whl"):
                os.link(wheel, staging / wheel.name)
        (staging / "requirements.txt").write_text("\n".join(requirements) + "\n")
        (staging / "constraints.txt").write_text("\n".join(constraints) + "\n")
        log(f"pip wheel: {len(requirements)} requirements into {target}")
        run(
            str(python),
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--disable-pip-version-check",
            "--wheel-dir",
            str(staging),
            "--find-links",
            str(staging),
            "--requirement",
            str(staging / "requirements.txt"),
            "--constraint",
            str(staging / "constraints.txt"),
        )
        # Only what this set of requirements needs: prune wheels of older pins.
        wanted = _resolve_names(python, staging)
        for wheel in staging.glob("*.whl"):
            if _canonical(wheel.name.split("-")[0]) not in wanted:
                wheel.unlink()
        (staging / ".stamp").write_text(stamp + "\n")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    log(f"wheelhouse made in {time.monotonic() - started:.0f} s")
    return target


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _resolve_names(python: Path, wheels: Path) -> set[str]:
    """Names of the distributions the requirements resolve to, offline, from ``wheels``."""
    report = wheels / "report.json"
    run(
        str(python),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--dry-run",
        "--ignore-installed",
        "--no-index",
        "--find-links",
        str(wheels),
        "--requirement",
        str(wheels / "requirements.txt"),
        "--constraint",
        str(wheels / "constraints.txt"),
        "--report",
        str(report),
    )
    names = {_canonical(item["metadata"]["name"]) for item in json.loads(report.read_text())["install"]}
    report.unlink()
    return names


# --- the ccplane image ------------------------------------------------------


def _context(files: list[tuple[str, Path]], wheels: Path | None) -> Iterator[tuple[str, Path]]:
    yield from files
    if wheels is not None:
        for wheel in sorted(wheels.iterdir()):
            if wheel.is_file() and not wheel.name.startswith("."):
                yield f"wheelhouse/{wheel.name}", wheel


def _build_log(tag: str) -> Path:
    logs = CACHE / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    return logs / (re.sub(r"[^\w.-]+", "_", tag) + ".log")


def _failed(tag: str, log_path: Path) -> SystemExit:
    tail = log_path.read_text(errors="replace")[-3000:]
    return SystemExit(f"docker build of {tag} failed (log: {log_path}); it ends:\n{tail}")


def build_from_tar(tag: str, files: Iterable[tuple[str, Path]], build_args: dict[str, str]) -> None:
    """``docker build -t TAG -`` with ``files`` as the context, streamed as a tar."""
    command = ["docker", "build", "--tag", tag]
    for key, value in build_args.items():
        command += ["--build-arg", f"{key}={value}"]
    log_path = _build_log(tag)
    with log_path.open("w") as out:
        process = subprocess.Popen(
            [*command, "-"], stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT, env=BUILD_ENV
        )
        assert process.stdin is not None
        try:
            # GNU format, whole-second times: no PAX headers, which the engine's
            # classic builder misreads (it then parses another file as the Dockerfile).
            with tarfile.open(fileobj=process.stdin, mode="w|", format=tarfile.GNU_FORMAT) as tar:
                for name, path in files:
                    info = tar.gettarinfo(str(path), arcname=name)
                    info.mtime = int(info.mtime)
                    info.uid = info.gid = 0
                    info.uname = info.gname = "root"
                    with path.open("rb") as handle:
                        tar.addfile(info, handle)
        except BrokenPipeError:
            pass  # the build stopped reading: its log says why
        finally:
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()
        if process.wait() != 0:
            raise _failed(tag, log_path)


def ccplane_image(base: str | None = None) -> str:
    """``ccplane:<hash>`` (also tagged ``ccplane:latest``), built offline."""
    base = base or base_image()
    wheels = wheelhouse()
    files = list(files_under(ROOT, IMAGE_INPUTS))
    base_id = run("docker", "image", "inspect", "--format", "{{.Id}}", base, stdout=subprocess.PIPE).stdout
    stamp = (wheels / ".stamp").read_text().strip()
    tag = f"{IMAGE_REPOSITORY}:" + files_digest(files, base_id.strip(), stamp)
    if image_exists(tag):
        log(f"image {tag} exists")
    else:
        started = time.monotonic()
        log(f"building {tag} on {base}")
        build_from_tar(tag, _context(files, wheels), {"BASE_IMAGE": base, "WHEELHOUSE": "wheelhouse"})
        log(f"image {tag} built in {time.monotonic() - started:.0f} s")
    run("docker", "tag", tag, f"{IMAGE_REPOSITORY}:latest")
    return tag


# --- the smoke test's stand-ins ---------------------------------------------


def smoke_image(name: str, base: str) -> str:
    """``ccplane-smoke-NAME:<hash>`` from ``deploy/smoke/NAME/``, on ``base``.
    Its Debian packages come from the mirror (the build uses the host's network)."""
    directory = SMOKE_DIR / name
    files = list(files_under(directory, sorted(p.name for p in directory.iterdir())))
    tag = f"ccplane-smoke-{name}:" + files_digest(files, base)
    if image_exists(tag):
        log(f"image {tag} exists")
    else:
        _build_smoke_image(tag, directory, base)
    # What deploy/docker-compose.smoke.yml names when CCPLANE_SMOKE_*_IMAGE is unset.
    run("docker", "tag", tag, f"ccplane-smoke-{name}:latest")
    return tag


def _build_smoke_image(tag: str, directory: Path, base: str) -> None:
    started = time.monotonic()
    log_path = _build_log(tag)
    with log_path.open("w") as out:
        built = subprocess.run(
            [
                "docker",
                "build",
                "--network",
                "host",
                "--build-arg",
                f"BASE_IMAGE={base}",
                "--tag",
                tag,
                str(directory),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=BUILD_ENV,
            check=False,
        )
    if built.returncode != 0:
        raise _failed(tag, log_path)
    log(f"image {tag} built in {time.monotonic() - started:.0f} s")


def smoke_images(base: str | None = None) -> dict[str, str]:
    """The three stand-ins, built side by side (their time goes mostly to downloads)."""
    base = base or base_image()
    with concurrent.futures.ThreadPoolExecutor(len(SMOKE_IMAGES)) as pool:
        tags = {name: pool.submit(smoke_image, name, base) for name in SMOKE_IMAGES}
        return {name: future.result() for name, future in tags.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.docker.images", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["engine", "base", "wheelhouse", "image", "smoke-images"])
    args = parser.parse_args(argv)
    if args.command == "wheelhouse":
        print(wheelhouse())
        return 0
    ensure_engine()
    if args.command == "base":
        print(base_image())
    elif args.command == "image":
        print(ccplane_image())
    elif args.command == "smoke-images":
        for name, tag in smoke_images().items():
            print(f"{name}={tag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
