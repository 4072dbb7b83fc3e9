"""The scripted model: a Responses-API server that plays scenarios, not an LLM.

Tests and ``ccplane up --demo`` point Codex at it instead of a real model;
everything it says is labelled as coming from the scripted model (model name
``ccplane-scripted``, a startup log line, the ``[ccplane scripted model]``
prefix of its canned messages).

Use::

    async with ScriptedModelServer("demo") as srv:   # or a dict / JSON file
        model = ModelConfig.scripted(srv.base_url)    # executor.providers.codex
        ...
        request = await srv.wait_for_request(contains="tool output")
        srv.requests                                  # every request body

or ``python -m common.scripted_model --scenario demo --port 8787``. Scenario
format: see :mod:`common.scripted_model.scenario`.

What the pinned Codex (0.163) needs from a scripted model:

* a ``[model_providers.X]`` table with ``wire_api = "responses"`` and
  ``base_url`` ending in ``/v1``; Codex POSTs ``/v1/responses`` and expects
  SSE (``response.created``, ``response.output_item.done`` items,
  ``response.completed`` with ``usage``);
* a model name Codex knows: an unknown slug gets "fallback metadata" (a
  warning on every thread) and no ``apply_patch`` tool. Bundled slugs such as
  ``gpt-5.5`` work, but would not say "scripted"; instead the executor writes
  :func:`~common.scripted_model.catalog.scripted_model_catalog` to
  ``model_catalog_json`` whenever the model is ``ccplane-scripted``, which
  gives it the full tool set (``exec_command``, ``apply_patch`` as a
  freeform tool, ``request_user_input``, ``update_plan``, ...);
* ``update_plan`` is offered only with ``[tools.update_plan] enabled = true``;
  ``request_user_input`` works in the default collaboration mode only with
  ``[features] default_mode_request_user_input = true`` (the executor's
  generated ``config.toml`` sets both).
"""

from common.scripted_model.catalog import scripted_model_catalog
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
    "scripted_model_catalog",
]
