"""Model credentials and the per-session ``CODEX_HOME/config.toml``.

Every session gets its own ``CODEX_HOME`` holding a generated
``config.toml``: a model provider table pointing at the configured
Responses-API endpoint, the tools ccplane relies on (plan updates, questions
in the default collaboration mode), MCP servers and the run's config
overrides, merged last. The TOML is written by a small serializer here rather
than a new dependency.

Model inputs (environment):

``CCPLANE_MODEL_BASE_URL``
    Responses-API base URL (``…/v1``); default ``https://api.openai.com/v1``.
``CCPLANE_MODEL``
    Default model slug; a run's ``model`` overrides it.
``CCPLANE_MODEL_API_KEY`` (falls back to ``OPENAI_API_KEY``)
    The key, handed to Codex through the ``CCPLANE_MODEL_API_KEY`` variable.
``CCPLANE_MODEL_USE_CODEX_LOGIN=1``
    Use the login of the user's own Codex (``$CODEX_HOME`` or ``~/.codex``,
    ``auth.json``) with Codex's built-in ``openai`` provider instead.
``CCPLANE_MODEL_CATALOG_JSON``
    A Codex model catalog (``{"models": [...]}``) for custom model slugs. The
    scripted model (``ccplane-scripted``) gets one automatically, so it is
    offered the same tools as a bundled model.
``CCPLANE_MODEL_STALL_TIMEOUT``
    Seconds a model answer may make no progress before the turn fails
    (default 300). Codex enforces it on the stream (the provider table's
    ``stream_idle_timeout_ms``: "idle timeout waiting for SSE"); the
    session's model proxy enforces it before the answer starts, where Codex
    would wait for ever (``executor.model_proxy``). Sessions on a Codex login
    use Codex's built-in ``openai`` provider, which cannot be reconfigured
    (Codex refuses a ``[model_providers.openai]`` table): they keep Codex's
    own defaults.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.scripted_model.catalog import SCRIPTED_MODEL_NAME, scripted_model_catalog
from executor.providers.base import McpServerSpec, SessionSettings
from executor.providers.errors import InvalidSettingError, ModelConfigError

PROVIDER_ID = "ccplane"
API_KEY_ENV = "CCPLANE_MODEL_API_KEY"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
STALL_TIMEOUT_ENV = "CCPLANE_MODEL_STALL_TIMEOUT"
DEFAULT_STALL_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class ModelConfig:
    """Where the model lives and how to authenticate. Never logged whole."""

    base_url: str | None = None
    model: str | None = None
    api_key: str | None = None
    use_codex_login: bool = False
    model_catalog_json: str | None = None
    # Where the user's Codex login lives (for use_codex_login).
    codex_login_home: str | None = None
    # Seconds a model answer may make no progress (CCPLANE_MODEL_STALL_TIMEOUT).
    stall_timeout: float = DEFAULT_STALL_TIMEOUT_S
    # What is wrong with the environment's settings; ``check`` raises it.
    invalid: str = ""

    def __post_init__(self) -> None:
        if not 0 < self.stall_timeout < math.inf:
            raise ValueError(f"stall_timeout must be a positive number of seconds, not {self.stall_timeout}")

    def __repr__(self) -> str:  # keep the key out of logs and tracebacks
        key = "set" if self.api_key else "unset"
        return (
            f"ModelConfig(base_url={self.base_url!r}, model={self.model!r}, api_key={key}, "
            f"use_codex_login={self.use_codex_login}, stall_timeout={self.stall_timeout:g})"
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ModelConfig:
        """Read the ``CCPLANE_MODEL_*`` variables; never raises (see ``check``)."""
        env = os.environ if env is None else env
        login = env.get("CCPLANE_MODEL_USE_CODEX_LOGIN", "").strip().lower()
        stall_timeout, invalid = DEFAULT_STALL_TIMEOUT_S, ""
        try:
            stall_timeout = parse_stall_timeout(env.get(STALL_TIMEOUT_ENV, ""))
        except ModelConfigError as exc:
            invalid = str(exc)
        return cls(
            base_url=env.get("CCPLANE_MODEL_BASE_URL") or None,
            model=env.get("CCPLANE_MODEL") or None,
            api_key=env.get("CCPLANE_MODEL_API_KEY") or env.get("OPENAI_API_KEY") or None,
            use_codex_login=login in ("1", "true", "yes", "on"),
            model_catalog_json=env.get("CCPLANE_MODEL_CATALOG_JSON") or None,
            codex_login_home=env.get("CODEX_HOME") or None,
            stall_timeout=stall_timeout,
            invalid=invalid,
        )

    @classmethod
    def scripted(cls, base_url: str, model: str = SCRIPTED_MODEL_NAME) -> ModelConfig:
        """The bundled scripted model (tests, ``ccplane up --demo``); needs no key."""
        return cls(base_url=base_url, model=model, api_key="ccplane-scripted-model-needs-no-key")

    @property
    def login_auth_file(self) -> Path:
        home = Path(self.codex_login_home) if self.codex_login_home else Path.home() / ".codex"
        return home / "auth.json"

    def check(self) -> None:
        """Raise ModelConfigError when a setting is malformed or the session
        could not authenticate."""
        if self.invalid:
            raise ModelConfigError(self.invalid, reason="MODEL_SETTING_INVALID")
        if self.use_codex_login:
            if not self.login_auth_file.is_file():
                raise ModelConfigError(
                    "CCPLANE_MODEL_USE_CODEX_LOGIN is set but there is no Codex login at "
                    f"{self.login_auth_file}; run `codex login` or set CCPLANE_MODEL_API_KEY"
                )
            return
        if not self.api_key:
            raise ModelConfigError(
                "no model credentials: set CCPLANE_MODEL_API_KEY (or OPENAI_API_KEY), "
                "or CCPLANE_MODEL_USE_CODEX_LOGIN=1 to use your Codex login"
            )

    def process_env(self) -> dict[str, str]:
        """Environment variables the Codex process needs for this model."""
        return {} if self.use_codex_login or not self.api_key else {API_KEY_ENV: self.api_key}


def parse_stall_timeout(raw: str) -> float:
    """``CCPLANE_MODEL_STALL_TIMEOUT``: positive seconds; empty means the default."""
    text = raw.strip()
    if not text:
        return DEFAULT_STALL_TIMEOUT_S
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds < math.inf:
        raise ModelConfigError(
            f"{STALL_TIMEOUT_ENV} must be a positive number of seconds (such as 300 or 2.5), not {raw!r}",
            reason="MODEL_SETTING_INVALID",
        )
    return seconds


def build_config(
    model: ModelConfig,
    settings: SessionSettings,
    *,
    model_name: str | None,
    catalog_path: Path | None = None,
) -> dict[str, Any]:
    """The content of ``config.toml`` as nested dicts."""
    config: dict[str, Any] = {}
    if model_name:
        config["model"] = model_name
    if model.use_codex_login:
        config["model_provider"] = "openai"
    else:
        config["model_provider"] = PROVIDER_ID
        config["model_providers"] = {
            PROVIDER_ID: {
                "name": "ccplane model",
                "base_url": model.base_url or DEFAULT_BASE_URL,
                "wire_api": "responses",
                "env_key": API_KEY_ENV,
                # Retries are ccplane's business (the session bounds reconnects).
                "request_max_retries": 0,
                "stream_max_retries": 0,
                # A stream silent this long fails the turn; Codex measures it
                # between events, once the answer has begun (the model proxy
                # bounds the wait for its start).
                "stream_idle_timeout_ms": max(1, round(model.stall_timeout * 1000)),
            }
        }
    if catalog_path is not None:
        config["model_catalog_json"] = str(catalog_path)
    # Deliberately enabled under-development features; the warning would only
    # repeat that in every run's event log.
    config["suppress_unstable_features_warning"] = True
    config["check_for_update_on_startup"] = False
    config["features"] = {
        # request_user_input in the default collaboration mode (otherwise the
        # tool answers "unavailable in Default mode").
        "default_mode_request_user_input": True,
        # Codex would otherwise retry an unreachable model forever.
        "unbounded_connection_retries": False,
        # Plugin sync reaches out to the internet on every start.
        "plugins": False,
    }
    config["tools"] = {"update_plan": {"enabled": True}}
    if settings.mcp_servers:
        config["mcp_servers"] = {name: _mcp_server(server) for name, server in settings.mcp_servers.items()}
    for key, value in settings.config_overrides.items():
        _set_dotted(config, key, value)
    return config


def _mcp_server(server: McpServerSpec) -> dict[str, Any]:
    if server.url:
        return {"url": server.url}
    table: dict[str, Any] = {"command": server.command, "args": list(server.args)}
    if server.env:
        table["env"] = dict(server.env)
    return table


def _set_dotted(config: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = config
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if not isinstance(child, dict):
            if child is not None:
                where = ".".join(parts[: i + 1])
                raise InvalidSettingError(f"settings.config_overrides[{key!r}]", f"{where} is not a table")
            child = node[part] = {}
        node = child
    if isinstance(value, Mapping) and isinstance(node.get(parts[-1]), dict):
        for sub_key, sub_value in value.items():
            _set_dotted(node[parts[-1]], str(sub_key), sub_value)
    else:
        node[parts[-1]] = _plain(value, key)


def _plain(value: Any, key: str) -> Any:
    """Convert protobuf-ish/JSON values to what TOML can hold."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v, key) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, key) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)  # google.protobuf.Value has only doubles
    if value is None:
        raise InvalidSettingError(f"settings.config_overrides[{key!r}]", "null is not allowed")
    return value


def prepare_codex_home(
    home: Path, model: ModelConfig, settings: SessionSettings, *, model_name: str | None
) -> Path:
    """Write ``config.toml`` (and the model catalog / login) into ``home``."""
    home.mkdir(parents=True, exist_ok=True)
    catalog_path: Path | None = None
    if model.model_catalog_json:
        catalog_path = Path(model.model_catalog_json)
    elif model_name == SCRIPTED_MODEL_NAME:
        catalog_path = home / "ccplane-model-catalog.json"
        catalog_path.write_text(json.dumps(scripted_model_catalog()), encoding="utf-8")
    if model.use_codex_login:
        target = home / "auth.json"
        shutil.copyfile(model.login_auth_file, target)
        target.chmod(0o600)
    config = build_config(model, settings, model_name=model_name, catalog_path=catalog_path)
    path = home / "config.toml"
    path.write_text(dumps_toml(config), encoding="utf-8")
    return path


# -- TOML ------------------------------------------------------------------

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def dumps_toml(data: Mapping[str, Any]) -> str:
    """Serialize nested dicts as TOML (tables as ``[a.b]`` sections)."""
    lines: list[str] = []
    _emit_table(data, [], lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def _emit_table(table: Mapping[str, Any], path: list[str], lines: list[str]) -> None:
    scalars = [(k, v) for k, v in table.items() if not _is_table(v)]
    tables = [(k, v) for k, v in table.items() if _is_table(v)]
    if path and (scalars or not tables):
        lines.append("")
        lines.append("[" + ".".join(_key(p) for p in path) + "]")
    for key, value in scalars:
        lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in tables:
        _emit_table(value, [*path, str(key)], lines)


def _is_table(value: Any) -> bool:
    return isinstance(value, Mapping)


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _string(key)


def _string(text: str) -> str:
    escaped = (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    escaped = "".join(f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F else c for c in escaped)
    return f'"{escaped}"'


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):  # inline table (inside an array)
        return "{" + ", ".join(f"{_key(str(k))} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
