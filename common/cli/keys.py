"""``ccplane api-keys`` (create, list, revoke) and ``ccplane tenants`` (list,
set-limits): administration done directly in the database."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from common.db.embedded import EmbeddedPostgres
from common.db.engine import Database
from common.db.migrate import upgrade
from common.settings import Settings
from control_plane import api_keys

T = TypeVar("T")


def add_api_key_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("api-keys", help="create, list and revoke API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)

    create = keys_sub.add_parser("create", help="create a key and print it (shown only this once)")
    create.add_argument("--tenant", required=True, help="tenant slug (created on first use)")
    create.add_argument("--admin", action="store_true", help="an admin key (may reconcile)")
    create.add_argument("--name", default="", help="a label to tell keys apart")
    create.set_defaults(handler=_create)

    listing = keys_sub.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--tenant", default="")
    listing.set_defaults(handler=_list)

    revoke = keys_sub.add_parser("revoke", help="revoke a key")
    revoke.add_argument("key_id")
    revoke.set_defaults(handler=_revoke)

    tenants = sub.add_parser("tenants", help="list tenants and set their limits")
    tenants_sub = tenants.add_subparsers(dest="tenants_command", required=True)
    tenant_list = tenants_sub.add_parser("list", help="tenants, their limit overrides and active keys")
    tenant_list.set_defaults(handler=_tenants)
    limits = tenants_sub.add_parser(
        "set-limits", help="override a tenant's limits (0: no limit; 'default': the control plane's)"
    )
    limits.add_argument("tenant")
    limits.add_argument("--max-runs", type=_limit(int), help="unfinished runs at most")
    limits.add_argument("--rps", type=_limit(float), help="requests per second")
    limits.add_argument(
        "--full-access",
        choices=("allow", "deny"),
        help="whether the tenant's runs may use the danger_full_access sandbox and any Codex config key",
    )
    limits.set_defaults(handler=_set_limits)

    for parser in (create, listing, revoke, tenant_list, limits):
        parser.add_argument(
            "--data-dir", help="data directory of an embedded installation (default ./.ccplane)"
        )


def _limit(parse: Callable[[str], float]) -> Callable[[str], float]:
    def convert(text: str) -> float:
        if text == "default":
            return api_keys.DEFAULT_LIMIT
        value = parse(text)
        if value < 0:
            raise argparse.ArgumentTypeError("must be 0 (no limit), more, or 'default'")
        return value

    return convert


def _in_database(args: argparse.Namespace, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    settings = Settings()
    if args.data_dir:
        settings.data_dir = Path(args.data_dir)

    async def run() -> T:
        embedded: EmbeddedPostgres | None = None
        url = settings.database_url
        if not url:
            embedded = EmbeddedPostgres(settings.resolved_data_dir())
            url = await asyncio.to_thread(embedded.start)
        try:
            await upgrade(url)
            database = Database(url, pool_size=1, max_overflow=0, application_name="ccplane-cli")
            try:
                async with database.session() as session, session.begin():
                    return await work(session)
            finally:
                await database.close()
        finally:
            if embedded is not None:
                await asyncio.to_thread(embedded.stop)

    return asyncio.run(run())


def _create(args: argparse.Namespace) -> int:
    role = "admin" if args.admin else "user"

    async def work(session: AsyncSession) -> Any:
        return await api_keys.create_key(session, tenant=args.tenant, role=role, name=args.name)

    new = _in_database(args, work)
    print(new.secret)
    print(f"# key {new.key_id} for tenant {new.tenant_id} ({new.role}); it is not shown again")
    return 0


def _list(args: argparse.Namespace) -> int:
    async def work(session: AsyncSession) -> Any:
        return await api_keys.list_keys(session, args.tenant or None)

    for key in _in_database(args, work):
        state = "revoked" if key.revoked_at else "active"
        print(f"{key.key_id}  {key.tenant_id:<20} {key.role:<5} {key.prefix}…  {state}  {key.name}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    async def work(session: AsyncSession) -> None:
        await api_keys.revoke(session, args.key_id)

    _in_database(args, work)
    print(f"revoked {args.key_id}")
    return 0


def _tenants(args: argparse.Namespace) -> int:
    async def work(session: AsyncSession) -> Any:
        return await api_keys.list_tenants(session)

    for tenant in _in_database(args, work):
        runs = "default" if tenant.max_unfinished_runs is None else str(tenant.max_unfinished_runs)
        rps = "default" if tenant.requests_per_second is None else f"{tenant.requests_per_second:g}"
        access = "allow" if tenant.allow_full_access else "deny"
        print(
            f"{tenant.tenant_id:<24} max-runs={runs:<8} rps={rps:<8} full-access={access:<5} "
            f"active-keys={tenant.active_keys}"
        )
    return 0


def _set_limits(args: argparse.Namespace) -> int:
    async def work(session: AsyncSession) -> None:
        await api_keys.set_tenant_limits(
            session,
            args.tenant,
            max_unfinished_runs=None if args.max_runs is None else int(args.max_runs),
            requests_per_second=args.rps,
            allow_full_access=None if args.full_access is None else args.full_access == "allow",
        )

    _in_database(args, work)
    print(f"limits of {args.tenant} updated (control planes apply them within CCPLANE_AUTH_CACHE_TTL)")
    return 0
