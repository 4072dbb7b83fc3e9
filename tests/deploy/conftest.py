"""The deployment smoke test runs only when asked for: ``make test-deploy``
(``pytest tests/deploy``). A plain ``pytest`` (``make test``) does not collect
it at all, so it is neither run nor counted there."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "deploy: the compose deployment on a real Docker engine (make test-deploy)"
    )


def _asked_for(config: pytest.Config) -> bool:
    """Whether the command line names tests/deploy or something in it."""
    for arg in config.args:
        path = (config.invocation_params.dir / arg.split("::", 1)[0]).resolve()
        if path == HERE or HERE in path.parents:
            return True
    return False


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path.parent == HERE and collection_path.name.startswith("test_"):
        return None if _asked_for(config) else True
    return None
