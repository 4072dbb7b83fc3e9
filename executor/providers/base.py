"""What every agent provider offers the executor: specs, sessions, a registry.

The executor service speaks only to :class:`ProviderSession` and
:class:`ProviderRegistry`; a provider kind (``codex-app-server``) names an
implementation and its capabilities. Specs are plain dataclasses: the
servicer converts protobufs to them at the boundary.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from executor.providers.errors import InvalidSettingError, UnknownProviderError

if TYPE_CHECKING:
    from ccplane.v1 import events_pb2, human_loop_pb2
    from executor.confinement import SessionBox

APPROVAL_MODES = ("never", "on-request", "on-failure", "untrusted")
SANDBOX_MODES = ("read-only", "workspace-write", "danger-full-access")
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
THREAD_MODES = ("persistent", "stateless")


@dataclass(frozen=True)
class McpServerSpec:
    """A stdio MCP server (``command``) or a streamable-HTTP one (``url``)."""

    command: str = ""
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    url: str = ""


@dataclass(frozen=True)
class SessionSettings:
    """Run settings as the provider sees them. ``None`` means provider default.

    ``config_overrides`` maps dotted config keys (``"model_reasoning_summary"``,
    ``"features.foo"``) to plain values; they are merged into the provider's
    configuration last, so they win.
    """

    approval_mode: str = "on-request"
    sandbox_mode: str = "workspace-write"
    reasoning_effort: str | None = None
    thread_mode: str = "persistent"
    mcp_servers: Mapping[str, McpServerSpec] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    config_overrides: Mapping[str, Any] = field(default_factory=dict)
    base_instructions: str | None = None
    developer_instructions: str | None = None

    def __post_init__(self) -> None:
        _check_choice("settings.approval_mode", self.approval_mode, APPROVAL_MODES)
        _check_choice("settings.sandbox_mode", self.sandbox_mode, SANDBOX_MODES)
        _check_choice("settings.thread_mode", self.thread_mode, THREAD_MODES)
        if self.reasoning_effort is not None:
            _check_choice("settings.reasoning_effort", self.reasoning_effort, REASONING_EFFORTS)
        for name, server in self.mcp_servers.items():
            where = f"settings.mcp_servers[{name!r}]"
            if not name or not name.replace("_", "").replace("-", "").isalnum():
                raise InvalidSettingError(where, "name must be letters, digits, '-' or '_'")
            if bool(server.command) == bool(server.url):
                raise InvalidSettingError(where, "set exactly one of command or url")
        for key in self.env:
            if not key or "=" in key or "\0" in key:
                raise InvalidSettingError(f"settings.env[{key!r}]", "invalid variable name")
        for key in self.config_overrides:
            if not key or any(not part for part in key.split(".")):
                raise InvalidSettingError(f"settings.config_overrides[{key!r}]", "must be a dotted key")


def _check_choice(field_name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InvalidSettingError(field_name, f"{value!r} is not one of {', '.join(allowed)}")


@dataclass(frozen=True)
class SessionSpec:
    """Everything needed to start one agent session.

    ``codex_home``: the provider's state directory for this session (a fresh
    temporary one when ``None``, removed on close). ``confinement``: the
    session's box (``executor.confinement``): the agent process is launched
    in it, and its model credential goes through a proxy on the box's
    network. ``thread_state_dir``:
    where thread state is exported after every turn and looked up when
    resuming (the executor syncs it to the object store).
    """

    run_id: str
    workspace_dir: Path
    prompt: str
    provider: str = "codex-app-server"
    model: str | None = None
    settings: SessionSettings = field(default_factory=SessionSettings)
    resume_thread_id: str | None = None
    codex_home: Path | None = None
    thread_state_dir: Path | None = None
    # Where and as whom the agent runs (None: as the executor, unconfined).
    confinement: SessionBox | None = None


@dataclass(frozen=True)
class Capabilities:
    resume: bool = False
    human_loop: bool = False
    steer: bool = False
    interrupt: bool = False


class Delivery(enum.StrEnum):
    """How injected text reached the agent."""

    STEER = "steer"  # into the running turn
    FOLLOW_UP = "follow_up"  # as a new turn


class Outcome(enum.StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"


@dataclass(frozen=True)
class SessionOutcome:
    """How a session ended; set once its event stream has ended."""

    outcome: Outcome
    error: str = ""
    reason: str = ""  # UPPER_SNAKE_CASE when error is set
    thread_id: str = ""


class ProviderSession(abc.ABC):
    """One live agent session. Not thread-safe; use from one event loop.

    Preconditions: ``start()`` once, before anything else; ``events()`` is
    consumed by one reader and ends after the session ends (``close()``, the
    agent process died, or a fatal error), at which point ``outcome`` is set.
    """

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    def events(self) -> AsyncIterator[events_pb2.RunEvent]: ...

    @abc.abstractmethod
    async def inject(self, text: str) -> Delivery: ...

    @abc.abstractmethod
    async def reply(self, question_id: str, answer: human_loop_pb2.HumanLoopAnswer) -> None: ...

    @abc.abstractmethod
    async def interrupt(self) -> None: ...

    @abc.abstractmethod
    async def close(self, reason: str = "", *, error_reason: str = "") -> None:
        """End the session. With ``error_reason``, a turn still running (or
        waiting for a person) ends the session failed with that reason
        instead of canceled: the session was ended from outside, not by the
        user."""

    @property
    @abc.abstractmethod
    def thread_id(self) -> str | None: ...

    @property
    @abc.abstractmethod
    def turn_active(self) -> bool: ...

    @property
    @abc.abstractmethod
    def pending_question_ids(self) -> list[str]: ...

    @property
    @abc.abstractmethod
    def outcome(self) -> SessionOutcome | None: ...

    @property
    def process_pid(self) -> int | None:
        """The agent's process, while it has one (for its memory and count in metrics)."""
        return None


SessionFactory = Callable[..., ProviderSession]


@dataclass(frozen=True)
class ProviderKind:
    name: str
    capabilities: Capabilities
    factory: SessionFactory
    description: str = ""


@dataclass(frozen=True)
class ResolvedProvider:
    kind: ProviderKind
    requested: str
    # Set when a legacy name was converted; the session reports it as a warning.
    conversion_warning: str | None = None


class ProviderRegistry:
    """Provider kinds by name, plus legacy aliases converted on lookup."""

    def __init__(self) -> None:
        self._kinds: dict[str, ProviderKind] = {}
        self._aliases: dict[str, str] = {}

    def register(self, kind: ProviderKind, *, legacy_aliases: tuple[str, ...] = ()) -> None:
        self._kinds[kind.name] = kind
        for alias in legacy_aliases:
            self._aliases[alias] = kind.name

    def names(self) -> list[str]:
        """Canonical provider kinds (what an executor advertises)."""
        return sorted(self._kinds)

    def resolve(self, name: str) -> ResolvedProvider:
        if name in self._kinds:
            return ResolvedProvider(self._kinds[name], name)
        if name in self._aliases:
            target = self._aliases[name]
            return ResolvedProvider(
                self._kinds[target],
                name,
                conversion_warning=(
                    f"provider {name!r} is deprecated; the run uses {target!r} with the same settings"
                ),
            )
        raise UnknownProviderError(name, [*self._kinds, *self._aliases])

    def capabilities(self, name: str) -> Capabilities:
        return self.resolve(name).kind.capabilities

    def create_session(self, spec: SessionSpec, **kwargs: Any) -> ProviderSession:
        """A session for ``spec`` (not started). Raises UnknownProviderError."""
        resolved = self.resolve(spec.provider)
        warnings = [resolved.conversion_warning] if resolved.conversion_warning else []
        spec = replace(spec, provider=resolved.kind.name)
        return resolved.kind.factory(spec, startup_warnings=warnings, **kwargs)
