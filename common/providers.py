"""The catalog of agent providers and what each can do.

The control plane validates runs against it (unknown provider, a human loop
the provider cannot offer); the executor's provider registry implements the
entries. Aliases name legacy kinds that are accepted and converted.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Capability(StrEnum):
    RESUME = "resume"
    HUMAN_LOOP = "human_loop"
    STEER = "steer"
    INTERRUPT = "interrupt"


@dataclass(frozen=True)
class ProviderInfo:
    name: str
    capabilities: frozenset[Capability]
    description: str


CODEX_APP_SERVER = "codex-app-server"
CODEX_CLI = "codex-cli"
DEFAULT_PROVIDER = CODEX_APP_SERVER

PROVIDERS: dict[str, ProviderInfo] = {
    CODEX_APP_SERVER: ProviderInfo(
        CODEX_APP_SERVER,
        frozenset(Capability),
        "OpenAI Codex driven over the app-server JSON-RPC protocol",
    ),
}

# Legacy kinds accepted for compatibility, and the provider that runs them.
ALIASES: dict[str, str] = {CODEX_CLI: CODEX_APP_SERVER}


def resolve(name: str) -> ProviderInfo | None:
    """The provider that runs ``name`` (an empty name means the default), or None."""
    key = name or DEFAULT_PROVIDER
    return PROVIDERS.get(ALIASES.get(key, key))


def known_names() -> list[str]:
    return sorted([*PROVIDERS, *ALIASES])
