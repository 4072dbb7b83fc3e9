"""The web workbench in a real browser: Debian's Chromium driven by Playwright,
against the whole platform on loopback.

One stack serves every test of the package: control plane, executor-manager
with two executors running the real codex binary against the scripted model
(``tests/browser/scenarios.py``), on a database of its own. The REST gateway,
which serves the built portal (``portal/dist``), runs as a separate process
(``ccplane gateway``) on a fixed port, so a test can SIGKILL it and start it
again where the page expects it.

Each test gets a fresh browser context (no cookies, no storage) whose
``base_url`` is the gateway: ``await page.goto("/runs/run_x")``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, Playwright, async_playwright, expect

from ccplane.v1 import runs_pb2_grpc
from common.chromium import CHROMIUM, CHROMIUM_ARGS
from common.cli.stack import Stack
from common.db.engine import Database
from control_plane.auth import DEFAULT_TENANT
from tests.browser.gateway_process import REPO, GatewayProcess, free_port
from tests.browser.scenarios import SCENARIOS
from tests.keys import create_key
from tests.platform import own_database, running_platform

# CCPLANE_BROWSER_PORTAL_DIR points the tests at another build of the portal
# (e.g. a snapshot, while someone rebuilds portal/dist under the running tests).
PORTAL_DIR = Path(os.environ.get("CCPLANE_BROWSER_PORTAL_DIR") or REPO / "portal" / "dist")
# Playwright's waits (actions, navigation, expect), in milliseconds.
WAIT_MS = 15_000
expect.set_options(timeout=WAIT_MS)

KeyFactory = Callable[..., Awaitable[str]]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every test of this package is a browser test (`-m "not browser"` leaves them out).
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.browser)


# -- the platform ------------------------------------------------------------


@pytest.fixture(scope="package")
def browser_db_url(postgres_server_url: str) -> Iterator[str]:
    with own_database(postgres_server_url, "ccplane_browser") as url:
        yield url


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def stack(browser_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """Control plane, executor-manager and two executors; no gateway (see ``gateway``)."""
    data_dir = tmp_path_factory.mktemp("ccplane-browser")
    async with running_platform(browser_db_url, data_dir, SCENARIOS, serve_gateway=False) as stack:
        yield stack


@pytest.fixture(scope="session")
def portal_dir() -> Path:
    """The built portal; its absence fails the tests (``make test`` builds it)."""
    if not (PORTAL_DIR / "index.html").is_file():
        pytest.fail(
            f"the browser tests need the built portal ({PORTAL_DIR / 'index.html'} is missing): "
            "run `make test` (it builds it), or `cd portal && npm ci && npm run build`"
        )
    return PORTAL_DIR


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium; its absence fails the tests (``make test`` installs it)."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"the browser tests need Debian's chromium ({CHROMIUM} is missing): "
            "run `make test` (it installs it), or `bash tools/setup-system.sh` as root"
        )
    return CHROMIUM


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def gateway_process(
    stack: Stack, portal_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[GatewayProcess]:
    gateway = GatewayProcess(
        stack.grpc_address,
        port=free_port(),
        portal_dir=portal_dir,
        log_path=tmp_path_factory.mktemp("gateway") / "gateway.log",
    )
    await gateway.start()
    try:
        yield gateway
    finally:
        gateway.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def gateway(gateway_process: GatewayProcess) -> AsyncIterator[GatewayProcess]:
    """The gateway process, serving when the test starts; a test may kill and
    restart it (``kill()``, ``await restart()``) and need not clean up."""
    if not gateway_process.running:
        await gateway_process.start()
    yield gateway_process


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def platform_database(stack: Stack) -> AsyncIterator[Database]:
    db = Database(stack.database_url, pool_size=2, max_overflow=2, application_name="ccplane-browser-tests")
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture(scope="package")
def api_key(stack: Stack) -> str:
    """The installation's admin key of the default tenant: what a person who
    ran ``make run`` pastes into the sign-in page."""
    return stack.admin_key


@pytest.fixture(scope="package")
def tenant_key(platform_database: Database) -> KeyFactory:
    """``await tenant_key("acme")``: a new key of that tenant (created on first
    use), role ``user`` unless ``role="admin"``."""

    async def create(tenant: str = DEFAULT_TENANT, role: str = "user") -> str:
        return await create_key(platform_database, tenant, role)

    return create


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def runs(stack: Stack) -> AsyncIterator[runs_pb2_grpc.RunServiceStub]:
    """RunService as the default tenant's admin: for tests that start runs
    behind the page's back."""
    async with stack.channel() as channel:
        yield runs_pb2_grpc.RunServiceStub(channel)


# -- the browser -------------------------------------------------------------


# Package-scoped like the stack: nothing of the browser suite outlives it.
@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def playwright() -> AsyncIterator[Playwright]:
    async with async_playwright() as pw:
        yield pw


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def browser(playwright: Playwright, chromium: Path) -> AsyncIterator[Browser]:
    """Debian's Chromium, headless (Playwright's own browser builds cannot be downloaded here)."""
    browser = await playwright.chromium.launch(executable_path=str(chromium), args=list(CHROMIUM_ARGS))
    try:
        yield browser
    finally:
        await browser.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # Remembered so ``page`` can keep a screenshot of a failed test.
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


_CALL_FAILED = pytest.StashKey[bool]()


@pytest_asyncio.fixture(loop_scope="session")
async def page(
    browser: Browser, gateway: GatewayProcess, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Page]:
    """A page in a fresh browser context whose ``base_url`` is the gateway.
    A failed test leaves ``failure.png`` in its ``tmp_path``."""
    context = await browser.new_context(base_url=gateway.url)
    context.set_default_timeout(WAIT_MS)
    page = await context.new_page()
    try:
        yield page
    finally:
        if request.node.stash.get(_CALL_FAILED, False) and not page.is_closed():
            shot = tmp_path / "failure.png"
            await page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot of the failed page: {shot} (at {page.url})")
        await context.close()


async def sign_in(page: Page, key: str) -> None:
    """Sign in through the sign-in page, as a person would; returns once the
    app has left it. Goes to ``/sign-in`` first unless the page is there."""
    if "/sign-in" not in page.url:
        await page.goto("/sign-in")
    await page.get_by_role("textbox", name="API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(lambda url: "/sign-in" not in url)


@pytest_asyncio.fixture(loop_scope="session")
async def signed_in_page(page: Page, api_key: str) -> Page:
    """``page``, signed in with ``api_key`` (the default tenant's admin)."""
    await sign_in(page, api_key)
    return page
