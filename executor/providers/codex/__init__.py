"""The ``codex-app-server`` provider: ccplane sessions on ``codex app-server``."""

from executor.providers.codex.config import ModelConfig
from executor.providers.codex.session import CodexSession, SessionLimits

__all__ = ["CodexSession", "ModelConfig", "SessionLimits"]
