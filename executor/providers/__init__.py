"""Agent providers and their registry.

``default_registry()`` knows ``codex-app-server`` (capabilities: resume,
human loop, steer, interrupt) and accepts the legacy ``codex-cli`` kind,
converting it (the session reports that as a warning).
"""

from __future__ import annotations

from typing import Any

from common import providers as catalog
from executor.providers.base import (
    Capabilities,
    Delivery,
    McpServerSpec,
    Outcome,
    ProviderKind,
    ProviderRegistry,
    ProviderSession,
    SessionOutcome,
    SessionSettings,
    SessionSpec,
)

CODEX_APP_SERVER = catalog.CODEX_APP_SERVER
CODEX_CLI_LEGACY = catalog.CODEX_CLI


def _codex_session(spec: SessionSpec, **kwargs: Any) -> ProviderSession:
    from executor.providers.codex.session import CodexSession

    return CodexSession(spec, **kwargs)


def _capabilities(name: str) -> Capabilities:
    """What the platform's provider catalog (common.providers) promises for ``name``."""
    promised = catalog.PROVIDERS[name].capabilities
    return Capabilities(**{c.value: c in promised for c in catalog.Capability})


def default_registry() -> ProviderRegistry:
    """The providers this executor runs: the catalog's, with their legacy aliases."""
    registry = ProviderRegistry()
    registry.register(
        ProviderKind(
            name=CODEX_APP_SERVER,
            capabilities=_capabilities(CODEX_APP_SERVER),
            factory=_codex_session,
            description=catalog.PROVIDERS[CODEX_APP_SERVER].description,
        ),
        legacy_aliases=tuple(
            alias for alias, target in catalog.ALIASES.items() if target == CODEX_APP_SERVER
        ),
    )
    return registry


__all__ = [
    "CODEX_APP_SERVER",
    "CODEX_CLI_LEGACY",
    "Capabilities",
    "Delivery",
    "McpServerSpec",
    "Outcome",
    "ProviderKind",
    "ProviderRegistry",
    "ProviderSession",
    "SessionOutcome",
    "SessionSettings",
    "SessionSpec",
    "default_registry",
]
