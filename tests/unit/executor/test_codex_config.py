"""Model configuration and the generated config.toml."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from common.scripted_model import SCRIPTED_MODEL_NAME
from executor.providers.base import McpServerSpec, SessionSettings
from executor.providers.codex.config import (
    API_KEY_ENV,
    DEFAULT_STALL_TIMEOUT_S,
    ModelConfig,
    build_config,
    dumps_toml,
    parse_stall_timeout,
    prepare_codex_home,
)
from executor.providers.errors import InvalidSettingError, ModelConfigError


def test_toml_round_trips_through_tomllib() -> None:
    data = {
        "model": "gpt-5.5",
        "flag": True,
        "n": 3,
        "ratio": 0.5,
        "list": ["a", 'q"uote', "new\nline", "tab\tand\\slash", "\x01"],
        "features": {"x": False},
        "model_providers": {"my provider": {"base_url": "http://h/v1", "nested": {"deep": 1}}},
        "mcp_servers": {"fs": {"command": "npx", "args": ["-y", "srv"], "env": {"K": "V"}}},
        "empty": {},
        "tables_in_arrays": [{"a": 1}],
    }
    assert tomllib.loads(dumps_toml(data)) == data


def test_scalars_come_before_tables() -> None:
    text = dumps_toml({"features": {"a": True}, "model": "m"})
    assert text.index('model = "m"') < text.index("[features]")


def test_config_for_a_custom_provider() -> None:
    settings = SessionSettings(
        mcp_servers={
            "files": McpServerSpec(command="mcp-files", args=("--root", "/w"), env={"A": "1"}),
            "web": McpServerSpec(url="http://127.0.0.1:9/mcp"),
        },
        config_overrides={
            "model_reasoning_summary": "detailed",
            "features.plugins": True,
            "model_providers.ccplane.request_max_retries": 2.0,
            "tools": {"web_search": False},
        },
    )
    config = tomllib.loads(
        dumps_toml(
            build_config(ModelConfig(base_url="http://m/v1", api_key="k"), settings, model_name="gpt-5.5")
        )
    )
    assert config["model"] == "gpt-5.5"
    assert config["model_provider"] == "ccplane"
    provider = config["model_providers"]["ccplane"]
    assert provider["base_url"] == "http://m/v1"
    assert provider["wire_api"] == "responses"
    assert provider["env_key"] == API_KEY_ENV
    assert provider["stream_max_retries"] == 0
    assert provider["request_max_retries"] == 2  # override wins, float made int
    assert config["tools"] == {"update_plan": {"enabled": True}, "web_search": False}
    assert config["features"]["default_mode_request_user_input"] is True
    assert config["features"]["plugins"] is True
    assert config["model_reasoning_summary"] == "detailed"
    assert config["mcp_servers"]["files"] == {
        "command": "mcp-files",
        "args": ["--root", "/w"],
        "env": {"A": "1"},
    }
    assert config["mcp_servers"]["web"] == {"url": "http://127.0.0.1:9/mcp"}


def test_override_into_a_scalar_is_refused() -> None:
    settings = SessionSettings(config_overrides={"model.name": "x"})
    with pytest.raises(InvalidSettingError) as raised:
        build_config(ModelConfig(api_key="k"), settings, model_name="m")
    assert raised.value.field == "settings.config_overrides['model.name']"


def test_codex_login_uses_the_builtin_provider(tmp_path: Path) -> None:
    login_home = tmp_path / "user-codex"
    login_home.mkdir()
    (login_home / "auth.json").write_text('{"tokens": {}}')
    model = ModelConfig(use_codex_login=True, codex_login_home=str(login_home))
    model.check()
    assert model.process_env() == {}
    home = tmp_path / "session-home"
    prepare_codex_home(home, model, SessionSettings(), model_name=None)
    config = tomllib.loads((home / "config.toml").read_text())
    assert config["model_provider"] == "openai" and "model_providers" not in config
    assert (home / "auth.json").read_text() == '{"tokens": {}}'


def test_scripted_model_gets_a_catalog(tmp_path: Path) -> None:
    prepare_codex_home(
        tmp_path,
        ModelConfig.scripted("http://127.0.0.1:1/v1"),
        SessionSettings(),
        model_name=SCRIPTED_MODEL_NAME,
    )
    config = tomllib.loads((tmp_path / "config.toml").read_text())
    catalog = json.loads(Path(config["model_catalog_json"]).read_text())
    assert [m["slug"] for m in catalog["models"]] == [SCRIPTED_MODEL_NAME]
    assert catalog["models"][0]["apply_patch_tool_type"] == "freeform"


def test_model_config_from_env() -> None:
    env = {
        "CCPLANE_MODEL_BASE_URL": "http://m/v1",
        "CCPLANE_MODEL": "gpt-5.5",
        "OPENAI_API_KEY": "sk-fallback",
    }
    model = ModelConfig.from_env(env)
    assert (model.base_url, model.model, model.api_key) == ("http://m/v1", "gpt-5.5", "sk-fallback")
    assert ModelConfig.from_env({**env, "CCPLANE_MODEL_API_KEY": "sk-own"}).api_key == "sk-own"
    assert model.process_env() == {API_KEY_ENV: "sk-fallback"}
    assert "sk-fallback" not in repr(model)
    assert ModelConfig.from_env({"CCPLANE_MODEL_USE_CODEX_LOGIN": "true"}).use_codex_login


def test_stall_timeout_reaches_the_provider_table() -> None:
    assert ModelConfig.from_env({}).stall_timeout == DEFAULT_STALL_TIMEOUT_S == 300
    model = ModelConfig.from_env({"CCPLANE_MODEL_API_KEY": "k", "CCPLANE_MODEL_STALL_TIMEOUT": " 2.5 "})
    model.check()
    assert model.stall_timeout == 2.5
    config = build_config(model, SessionSettings(), model_name="m")
    provider = config["model_providers"]["ccplane"]
    assert provider["stream_idle_timeout_ms"] == 2500
    assert provider["stream_max_retries"] == 0
    default = build_config(ModelConfig(api_key="k"), SessionSettings(), model_name="m")
    assert default["model_providers"]["ccplane"]["stream_idle_timeout_ms"] == 300_000


@pytest.mark.parametrize("raw", ["0", "-3", "soon", "inf", "nan", "5s"])
def test_a_malformed_stall_timeout_fails_the_check(raw: str) -> None:
    model = ModelConfig.from_env({"CCPLANE_MODEL_API_KEY": "k", "CCPLANE_MODEL_STALL_TIMEOUT": raw})
    with pytest.raises(ModelConfigError) as raised:
        model.check()
    assert raised.value.reason == "MODEL_SETTING_INVALID"
    assert "CCPLANE_MODEL_STALL_TIMEOUT must be a positive number of seconds" in str(raised.value)
    assert repr(raw) in str(raised.value)
    with pytest.raises(ModelConfigError):
        parse_stall_timeout(raw)
    with pytest.raises(ValueError, match="stall_timeout"):
        ModelConfig(api_key="k", stall_timeout=0)


def test_missing_credentials_are_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(ModelConfigError) as raised:
        ModelConfig.from_env({}).check()
    assert raised.value.reason == "MODEL_CREDENTIALS_MISSING"
    assert "CCPLANE_MODEL_API_KEY" in str(raised.value)
    with pytest.raises(ModelConfigError, match="codex login"):
        ModelConfig(use_codex_login=True, codex_login_home=str(tmp_path)).check()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"approval_mode": "sometimes"}, "settings.approval_mode"),
        ({"sandbox_mode": "none"}, "settings.sandbox_mode"),
        ({"reasoning_effort": "max"}, "settings.reasoning_effort"),
        ({"thread_mode": "forked"}, "settings.thread_mode"),
        ({"mcp_servers": {"x": McpServerSpec()}}, "settings.mcp_servers['x']"),
        ({"mcp_servers": {"bad name": McpServerSpec(command="c")}}, "settings.mcp_servers['bad name']"),
        ({"env": {"A=B": "c"}}, "settings.env['A=B']"),
        ({"config_overrides": {"a..b": 1}}, "settings.config_overrides['a..b']"),
    ],
)
def test_invalid_settings_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidSettingError) as raised:
        SessionSettings(**kwargs)  # type: ignore[arg-type]
    assert raised.value.field == field
    assert raised.value.status_code == "INVALID_ARGUMENT"
