"""The scripted model: a Responses-API server that plays scenarios, not an LLM.

Tests and ``ccplane up --demo`` point Codex at it instead of a real model.
Everything it says is labelled as coming from the scripted model.
"""

from common.scripted_model.scenario import (
    BUILTIN,
    LABEL,
    SCRIPTED_MODEL_NAME,
    Scenario,
    ScenarioError,
    Step,
    builtin,
    load,
)
from common.scripted_model.server import RecordedRequest, ScriptedModelServer

__all__ = [
    "BUILTIN",
    "LABEL",
    "SCRIPTED_MODEL_NAME",
    "RecordedRequest",
    "Scenario",
    "ScenarioError",
    "ScriptedModelServer",
    "Step",
    "builtin",
    "load",
]
