"""Agent providers and their registry.

``default_registry()`` knows ``codex-app-server`` (capabilities: resume,
human loop, steer, interrupt) and accepts the legacy ``codex-cli`` kind,
converting it (the session reports that as a warning).
"""

from __future__ import annotations

from typing import Any

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

CODEX_APP_SERVER = "codex-app-server"
CODEX_CLI_LEGACY = "codex-cli"


def _codex_session(spec: SessionSpec, **kwargs: Any) -> ProviderSession:
    from executor.providers.codex.session import CodexSession

    return CodexSession(spec, **kwargs)


def default_registry() -> ProviderRegistry:
    registry = ProviderRegistry()
    registry.register(
        ProviderKind(
            name=CODEX_APP_SERVER,
            capabilities=Capabilities(resume=True, human_loop=True, steer=True, interrupt=True),
            factory=_codex_session,
            description="OpenAI Codex driven over `codex app-server` JSON-RPC",
        ),
        legacy_aliases=(CODEX_CLI_LEGACY,),
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
