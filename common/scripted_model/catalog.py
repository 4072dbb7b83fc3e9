"""Codex model metadata for the scripted model.

Codex (0.163) treats a model slug it does not bundle as "fallback metadata":
it warns on every thread and offers fewer tools (no ``apply_patch``). Pointing
``model_catalog_json`` in ``config.toml`` at this catalog makes
``ccplane-scripted`` a known model with the same tools as a bundled one
(``exec_command``, ``apply_patch`` as a freeform tool, ``request_user_input``,
``update_plan`` when enabled, …). The catalog replaces the bundled one, so
only sessions that use the scripted model get it.
"""

from __future__ import annotations

from typing import Any

from common.scripted_model.scenario import LABEL, SCRIPTED_MODEL_NAME

__all__ = ["SCRIPTED_MODEL_NAME", "scripted_model_catalog"]


def scripted_model_catalog(slug: str = SCRIPTED_MODEL_NAME) -> dict[str, Any]:
    levels = [
        {"effort": effort, "description": f"{effort} (ignored by the scripted model)"}
        for effort in ("minimal", "low", "medium", "high", "xhigh")
    ]
    return {
        "models": [
            {
                "slug": slug,
                "display_name": "ccplane scripted model",
                "description": f"{LABEL} plays scripted replies; not an LLM.",
                "default_reasoning_level": "medium",
                "supported_reasoning_levels": levels,
                "shell_type": "unified_exec",
                "visibility": "list",
                "supported_in_api": True,
                "priority": 1,
                "base_instructions": f"{LABEL} You are ccplane's scripted test model.",
                "apply_patch_tool_type": "freeform",
                "truncation_policy": {"mode": "tokens", "limit": 10000},
                "context_window": 128000,
                "experimental_supported_tools": [],
                "input_modalities": ["text"],
                "supports_reasoning_summaries": True,
                "support_verbosity": False,
            }
        ]
    }
