# ccplane: one image for every service (README: "Deploying ccplane").
#
#   docker build -t ccplane .            # dependencies from PyPI, on python:3.11-slim-bookworm
#   make image                           # offline: a local Debian base and a wheelhouse (tools/docker/)
#
# The entrypoint is `ccplane`; the command names the service:
#   ccplane control-plane | gateway | executor-manager | executor | migrate
# (and every client command: `ccplane api-keys create ...`, `ccplane health`).
#
# The build context must hold the built portal (portal/dist: `make install`
# builds it) and the generated code (gen/, committed).
#
# BASE_IMAGE: any Debian bookworm image with Python 3.11 and `python3 -m venv`
#   (`python -m tools.docker.images base` makes one with debootstrap).
# WHEELHOUSE: a directory of the build context holding a wheel for every
#   dependency (`python -m tools.docker.images wheelhouse`); the dependencies are then installed
#   with `pip install --no-index --find-links`, so no package index is needed.
#   Empty: from PyPI. A `constraints.txt` in it pins the versions.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ARG WHEELHOUSE=
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src

# The dependencies first, read from pyproject.toml alone: this layer outlives
# edits of the source. With WHEELHOUSE empty the COPY takes pyproject.toml only.
COPY pyproject.toml ${WHEELHOUSE} /wheelhouse/
COPY pyproject.toml ./
RUN set -eu; \
    python3 -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb")); \
open("/tmp/requirements.txt", "w").write("\n".join(p["project"]["dependencies"])); \
open("/tmp/build-requirements.txt", "w").write("\n".join(p["build-system"]["requires"]))'; \
    if [ -n "${WHEELHOUSE}" ]; then \
      set -- --no-index --find-links /wheelhouse; \
      [ ! -f /wheelhouse/constraints.txt ] || set -- "$@" --constraint /wheelhouse/constraints.txt; \
    fi; \
    python3 -m venv /opt/ccplane/venv; \
    /opt/ccplane/venv/bin/pip install --quiet "$@" --requirement /tmp/requirements.txt; \
    python3 -m venv /tmp/buildenv; \
    /tmp/buildenv/bin/pip install --quiet "$@" --requirement /tmp/build-requirements.txt

# Then ccplane itself, built here from the source (no index needed): the
# packages, the generated code, the README (the package's description) and
# the built portal.
COPY README.md ./
COPY common ./common
COPY control_plane ./control_plane
COPY executor ./executor
COPY executor_manager ./executor_manager
COPY gateway ./gateway
COPY gen ./gen
COPY portal/dist ./portal/dist
RUN set -eu; \
    /tmp/buildenv/bin/pip wheel --quiet --no-deps --no-build-isolation --wheel-dir /tmp/dist .; \
    /opt/ccplane/venv/bin/pip install --quiet --no-deps /tmp/dist/ccplane-*.whl; \
    /opt/ccplane/venv/bin/python -c 'import codex_cli_bin, pathlib; assert pathlib.Path(codex_cli_bin.bundled_codex_path()).is_file()'; \
    mkdir -p /opt/ccplane/share /opt/ccplane/portal; \
    cp gen/ccplane.binpb /opt/ccplane/share/ccplane.binpb; \
    cp -r portal/dist/. /opt/ccplane/portal/; \
    test -f /opt/ccplane/portal/index.html

# The runtime: the base image, the virtual environment (with the pinned codex
# binary, from the openai-codex-cli-bin wheel, which carries its own
# bubblewrap for Codex's command sandbox), the descriptor set and the built
# portal. No other bwrap may be on PATH: Codex then runs that one and asks it
# to start a `codex-linux-sandbox` helper the wheel does not ship, and every
# sandboxed command fails ("bwrap: execvp codex-linux-sandbox"; measured).
FROM ${BASE_IMAGE}
RUN set -eu; \
    if command -v bwrap >/dev/null; then \
      echo "the base image has $(command -v bwrap): Codex would use it and fail; remove bubblewrap" >&2; \
      exit 1; \
    fi; \
    groupadd --system --gid 10001 ccplane; \
    useradd --system --uid 10001 --gid ccplane --home-dir /var/lib/ccplane --create-home \
      --shell /usr/sbin/nologin ccplane; \
    install -d -o ccplane -g ccplane -m 0750 /var/lib/ccplane/objects
COPY --from=build /opt/ccplane /opt/ccplane

ENV PATH=/opt/ccplane/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    CCPLANE_DATA_DIR=/var/lib/ccplane \
    CCPLANE_PORTAL_DIR=/opt/ccplane/portal \
    CCPLANE_DESCRIPTOR_SET=/opt/ccplane/share/ccplane.binpb \
    CCPLANE_LOG_FORMAT=json

# Not root. The data directory (and the default object store, objects/, a
# mount point for a volume shared by control planes and executors) is the
# user's. An executor that is not root cannot give sessions users of their
# own: it hosts one tenant (README "Security model").
USER ccplane
WORKDIR /var/lib/ccplane
# gateway, control plane, executor-manager, executor, and their /metrics.
EXPOSE 3001 50051 50052 50060 9464 9465 9466

# grpc.health.v1 (or the gateway's /healthz) of the service this container runs.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["ccplane", "health"]
ENTRYPOINT ["ccplane"]
CMD ["--help"]
