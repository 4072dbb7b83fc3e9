"""Who is calling: the tenant, API key and role of the current request.

Every domain function takes a :class:`Caller` so that tenant isolation is a
parameter, not an afterthought. Until API keys are enforced, every call acts
as the local administrator of the default tenant.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_TENANT = "default"


@dataclass(frozen=True)
class Caller:
    tenant_id: str
    key_id: str = ""
    role: str = "user"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


LOCAL_ADMIN = Caller(tenant_id=DEFAULT_TENANT, key_id="", role="admin")


def current_caller() -> Caller:
    return LOCAL_ADMIN
