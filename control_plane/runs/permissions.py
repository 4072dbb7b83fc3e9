"""What a tenant may ask of a run's agent beyond the platform's defaults.

Two run settings reach past a run's confinement: the ``danger_full_access``
sandbox (commands run unsandboxed), and ``config_overrides``, which can set
any Codex configuration key — the sandbox again, a model provider's
``base_url`` with an ``env_key`` naming a platform variable, the shell
environment policy. Only tenants an admin has marked
(``ccplane tenants set-limits T --full-access allow``) may use them; for
others full access is PERMISSION_DENIED naming the setting, and an override
outside :data:`SAFE_OVERRIDES` is INVALID_ARGUMENT naming the key.
"""

from __future__ import annotations

from typing import Final

from ccplane.v1 import runs_pb2
from common.errors import FieldViolation, invalid_arguments, permission_denied
from control_plane.auth import Caller

# Keys that change how the model answers, not what the agent may touch.
SAFE_OVERRIDES: Final = frozenset(
    {
        "hide_agent_reasoning",
        "model_auto_compact_token_limit",
        "model_context_window",
        "model_max_output_tokens",
        "model_reasoning_summary",
        "model_verbosity",
        "project_doc_max_bytes",
        "show_raw_agent_reasoning",
        "tools.view_image",
        "tools.web_search",
    }
)


def check_run_settings(settings: runs_pb2.RunSettings, caller: Caller) -> None:
    """Refuse settings the caller's tenant may not use (see the module docstring)."""
    if caller.full_access:
        return
    if settings.sandbox_mode == runs_pb2.SANDBOX_MODE_DANGER_FULL_ACCESS:
        raise permission_denied(
            "FULL_ACCESS_NOT_ALLOWED",
            f"settings.sandbox_mode: tenant {caller.tenant_id!r} may not run agents with full access; "
            "an admin can allow it (`ccplane tenants set-limits TENANT --full-access allow`)",
            field="settings.sandbox_mode",
            tenant=caller.tenant_id,
        )
    refused = sorted(key for key in settings.config_overrides if key not in SAFE_OVERRIDES)
    if refused:
        raise invalid_arguments(
            [
                FieldViolation(
                    f"settings.config_overrides[{key!r}]",
                    "may change the sandbox, model providers, credentials or environment; allowed keys: "
                    + ", ".join(sorted(SAFE_OVERRIDES)),
                )
                for key in refused
            ],
            reason="CONFIG_OVERRIDE_NOT_ALLOWED",
        )
