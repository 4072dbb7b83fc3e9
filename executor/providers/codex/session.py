"""A ccplane session driving one ``codex app-server`` process.

``start()`` prepares a private ``CODEX_HOME``, spawns the process,
initializes, starts (or resumes) a thread and starts the first turn. From then
on ``events()`` yields typed ``RunEvent``s until the session ends. The
session outlives turns: after a turn completes it stays idle, keeping the
thread, until ``close()``; it ends by itself only when Codex dies or the model
stays unreachable (an ``error`` event comes first).

Human-loop requests (Codex server requests) are held open while the session
keeps reading, steering and interrupting; ``reply()`` answers each exactly
once. Thread state (the rollout file) is exported to ``thread_state_dir``
after every turn and on close, and imported from there to resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ccplane.v1 import events_pb2, human_loop_pb2
from common.ids import QUESTION, new_id
from executor.model_proxy import ModelProxy
from executor.providers.base import (
    Delivery,
    Outcome,
    ProviderSession,
    SessionOutcome,
    SessionSpec,
)
from executor.providers.codex import thread_state
from executor.providers.codex.command_output import output_limit_from_env
from executor.providers.codex.config import ModelConfig, prepare_codex_home
from executor.providers.codex.jsonrpc import (
    INTERNAL_ERROR,
    METHOD_NOT_FOUND,
    AlreadyAnsweredError,
    ConnectionClosedError,
    JsonRpcConnection,
    JsonRpcError,
    Notification,
    RemoteError,
    RequestTimeoutError,
    ServerRequest,
)
from executor.providers.codex.process import CodexProcess
from executor.providers.codex.translate import (
    HUMAN_LOOP_KINDS,
    EventTranslator,
    codex_answer,
    turn_status,
)
from executor.providers.errors import (
    ProviderError,
    ProviderUnavailableError,
    QuestionAlreadyAnsweredError,
    QuestionCanceledError,
    QuestionNotFoundError,
    SessionStateError,
    ThreadStateNotFoundError,
    WorkspaceMissingError,
)

log = logging.getLogger("ccplane.codex.session")

CLIENT_INFO = {"name": "ccplane", "title": "ccplane executor", "version": "0.1.0"}
# Codex 0.163 has no "on-failure" policy any more; "on-request" is closest.
_APPROVAL_POLICY = {
    "never": "never",
    "on-request": "on-request",
    "on-failure": "on-request",
    "untrusted": "untrusted",
}


@dataclass
class _Question:
    request: ServerRequest
    turn_id: str


@dataclass(frozen=True)
class SessionLimits:
    """Timeouts and bounds; the defaults suit production, tests shrink them."""

    request_timeout: float = 30.0
    # Codex reports each failed reconnect as an `error` notification with
    # willRetry; after this many, or this long, the session gives up.
    max_reconnects: int = 3
    reconnect_deadline: float = 120.0
    stop_grace: float = 1.0
    # Bytes of one command's output the log keeps; None: CCPLANE_COMMAND_OUTPUT_LIMIT.
    command_output_limit: int | None = None


class CodexSession(ProviderSession):
    """One ``codex-app-server`` session. See the module docstring."""

    def __init__(
        self,
        spec: SessionSpec,
        model: ModelConfig | None = None,
        *,
        startup_warnings: Sequence[str] = (),
        limits: SessionLimits | None = None,
        codex_binary: Path | None = None,
    ) -> None:
        self.spec = spec
        self.model_config = model if model is not None else ModelConfig.from_env()
        # The session's own proxy to a keyed model: Codex holds a token of
        # this session, never the key (executor/model_proxy.py).
        self._model_proxy: ModelProxy | None = None
        self.limits = limits or SessionLimits()
        self._codex_binary = codex_binary
        self._startup_warnings = list(startup_warnings)
        self._translator = EventTranslator(spec.run_id)
        self._events: asyncio.Queue[events_pb2.RunEvent | None] = asyncio.Queue()
        self._process: CodexProcess | None = None
        self._rpc: JsonRpcConnection | None = None
        self._pump_task: asyncio.Task[None] | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._codex_home: Path | None = None
        self._owns_codex_home = False
        self._rollout_paths: dict[str, Path] = {}
        self._thread_id: str | None = None
        self._turn_id: str | None = None
        self._finished_turns: set[str] = set()
        self._last_turn: tuple[events_pb2.TurnStatus, str] | None = None
        self._questions: dict[str, _Question] = {}
        self._closed_questions: dict[str, str] = {}  # question id -> "answered" | "canceled"
        self._question_by_rpc_id: dict[int | str, str] = {}
        self._reconnects = 0
        self._reconnect_timer: asyncio.Task[None] | None = None
        self._inject_lock = asyncio.Lock()
        self._idle = asyncio.Event()
        self._idle.set()
        self._started = False
        self._ending = False
        self._ended = asyncio.Event()
        self._outcome: SessionOutcome | None = None

    # -- public state ------------------------------------------------------

    @property
    def thread_id(self) -> str | None:
        return self._thread_id

    @property
    def turn_id(self) -> str | None:
        return self._turn_id

    @property
    def turn_active(self) -> bool:
        return self._turn_id is not None

    @property
    def pending_question_ids(self) -> list[str]:
        return list(self._questions)

    @property
    def outcome(self) -> SessionOutcome | None:
        return self._outcome

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    @property
    def codex_home(self) -> Path | None:
        return self._codex_home

    @property
    def process_pid(self) -> int | None:
        return self._process.pid if self._process else None

    async def wait_ended(self) -> SessionOutcome:
        await self._ended.wait()
        assert self._outcome is not None
        return self._outcome

    async def events(self) -> AsyncIterator[events_pb2.RunEvent]:
        """Every event of the session, in order; ends when the session ends."""
        while True:
            event = await self._events.get()
            if event is None:
                self._events.put_nowait(None)
                return
            yield event

    # -- start -------------------------------------------------------------

    async def start(self) -> None:
        """Start the session. Raises only for caller errors (missing
        workspace, missing thread state, started twice); any later failure
        becomes an ``error`` event and a failed session."""
        if self._started:
            raise SessionStateError("session already started")
        self._started = True
        workspace = Path(self.spec.workspace_dir)
        if not await asyncio.to_thread(workspace.is_dir):
            raise WorkspaceMissingError(f"workspace directory {workspace} does not exist")
        resume_from: Path | None = None
        if self.spec.resume_thread_id:
            resume_from = await asyncio.to_thread(self._find_thread_state, self.spec.resume_thread_id)
        for warning in self._startup_warnings:
            self._emit(self._translator.warning(warning, reason="PROVIDER_CONVERTED"))
        if self.spec.settings.approval_mode == "on-failure":
            self._emit(
                self._translator.warning(
                    "approval mode on-failure is not supported by this Codex; using on-request",
                    reason="APPROVAL_MODE_CONVERTED",
                )
            )
        try:
            self.model_config.check()
            self._translator.output_limit = self.limits.command_output_limit or output_limit_from_env()
            await self._start_model_proxy()
            await self._launch(workspace, resume_from)
        except ProviderError as exc:
            await self._fail(str(exc), exc.reason)
        except JsonRpcError as exc:
            await self._fail(f"codex app-server failed to start: {exc}", "CODEX_START_FAILED")
        except asyncio.CancelledError:
            # Never leave a half-started Codex behind.
            await asyncio.shield(self._finish(SessionOutcome(Outcome.CANCELED, "start was canceled")))
            raise
        except Exception as exc:
            log.exception("codex session %s failed to start", self.spec.run_id)
            await self._fail(f"the session failed to start: {exc}", "INTERNAL")

    async def _start_model_proxy(self) -> None:
        if self.model_config.use_codex_login or not self.model_config.api_key:
            return
        box = self.spec.confinement
        proxy = ModelProxy(
            self.model_config, run_id=self.spec.run_id, sock=box.network.listener if box is not None else None
        )
        await proxy.start()
        self._model_proxy = proxy
        self.model_config = dataclasses.replace(
            self.model_config, base_url=proxy.base_url, api_key=proxy.token
        )

    def _find_thread_state(self, thread_id: str) -> Path | None:
        """The saved rollout to import, or None when CODEX_HOME has it."""
        if self.spec.codex_home and thread_state.find_rollout(self.spec.codex_home, thread_id):
            return None
        if self.spec.thread_state_dir:
            found = thread_state.find_rollout(self.spec.thread_state_dir, thread_id)
            if found is not None:
                return found
        raise ThreadStateNotFoundError(f"no saved state for thread {thread_id!r} on this executor")

    async def _launch(self, workspace: Path, resume_from: Path | None) -> None:
        model_name = self.spec.model or self.model_config.model
        if self.spec.codex_home is not None:
            self._codex_home = Path(self.spec.codex_home)
        else:
            self._codex_home = Path(tempfile.mkdtemp(prefix="ccplane-codex-home-"))
            self._owns_codex_home = True
        home = self._codex_home
        await asyncio.to_thread(
            prepare_codex_home, home, self.model_config, self.spec.settings, model_name=model_name
        )
        if resume_from is not None and self.spec.thread_state_dir is not None:
            await asyncio.to_thread(
                thread_state.import_rollout, resume_from, self.spec.thread_state_dir, home
            )
        box = self.spec.confinement
        if box is not None:
            await asyncio.to_thread(box.hand_over, home)
        env = {**self.spec.settings.env, **self.model_config.process_env()}
        self._process = CodexProcess(
            codex_home=home,
            cwd=workspace,
            env=env,
            binary=self._codex_binary,
            log_context=f"run_id={self.spec.run_id}",
            box=box,
        )
        await self._process.start()
        self._rpc = JsonRpcConnection(
            self._process.stdout,
            self._process.stdin,
            default_timeout=self.limits.request_timeout,
            name=f"codex[{self.spec.run_id}]",
        )
        self._rpc.start()
        self._pump_task = asyncio.create_task(self._pump(), name=f"codex-pump-{self.spec.run_id}")
        self._watch_task = asyncio.create_task(self._watch(), name=f"codex-watch-{self.spec.run_id}")
        await self._rpc.request(
            "initialize", {"clientInfo": CLIENT_INFO, "capabilities": {"experimentalApi": True}}
        )
        await self._rpc.notify("initialized")
        if self.spec.resume_thread_id:
            await self._resume_thread(self.spec.resume_thread_id, workspace)
        else:
            await self._start_thread(workspace)
        if self.spec.prompt:
            await self._start_turn(self.spec.prompt)

    def _thread_params(self, workspace: Path) -> dict[str, Any]:
        settings = self.spec.settings
        params: dict[str, Any] = {
            "cwd": str(workspace.resolve()),
            "approvalPolicy": _APPROVAL_POLICY[settings.approval_mode],
            "sandbox": settings.sandbox_mode,
        }
        model_name = self.spec.model or self.model_config.model
        if model_name:
            params["model"] = model_name
        if settings.base_instructions:
            params["baseInstructions"] = settings.base_instructions
        if settings.developer_instructions:
            params["developerInstructions"] = settings.developer_instructions
        return params

    async def _start_thread(self, workspace: Path) -> None:
        result = await self._call("thread/start", self._thread_params(workspace))
        self._adopt_thread(result, resumed=False)

    async def _resume_thread(self, thread_id: str, workspace: Path) -> None:
        params = {"threadId": thread_id, "excludeTurns": True, **self._thread_params(workspace)}
        result = await self._call("thread/resume", params)
        self._adopt_thread(result, resumed=True)

    def _adopt_thread(self, result: Any, *, resumed: bool) -> None:
        thread = (result or {}).get("thread") or {}
        self._thread_id = str(thread.get("id", ""))
        self._translator.model = str((result or {}).get("model") or thread.get("model") or "")
        if thread.get("path"):
            self._rollout_paths[self._thread_id] = Path(thread["path"])
        self._emit(self._translator.thread_started(self._thread_id, resumed=resumed))

    async def _start_turn(self, text: str) -> None:
        params: dict[str, Any] = {
            "threadId": self._thread_id,
            "input": [{"type": "text", "text": text}],
        }
        if self.spec.settings.reasoning_effort:
            params["effort"] = self.spec.settings.reasoning_effort
        result = await self._call("turn/start", params)
        turn_id = str(((result or {}).get("turn") or {}).get("id", ""))
        self._note_turn_started(turn_id)

    def _note_turn_started(self, turn_id: str) -> None:
        # turn/start's answer and the turn/started notification race; a turn
        # that already completed must not come back to life.
        if turn_id and turn_id not in self._finished_turns:
            self._turn_id = turn_id
            self._idle.clear()

    # -- actions -----------------------------------------------------------

    async def _call(self, method: str, params: dict[str, Any]) -> Any:
        """A request to Codex on behalf of the caller; failures as ProviderErrors."""
        rpc = self._require_live()
        try:
            return await rpc.request(method, params)
        except RemoteError as exc:
            raise SessionStateError(f"{method} refused: {exc.remote_message}") from exc
        except RequestTimeoutError as exc:
            raise ProviderUnavailableError(f"codex did not answer {method} in time") from exc
        except ConnectionClosedError as exc:
            raise SessionStateError("the session has ended") from exc

    async def inject(self, text: str) -> Delivery:
        """Steer the running turn, or start a new turn when idle."""
        self._require_live()
        async with self._inject_lock:  # two quick injects: a turn, then a steer
            if self._turn_id is not None:
                steer = {
                    "threadId": self._thread_id,
                    "expectedTurnId": self._turn_id,
                    "input": [{"type": "text", "text": text}],
                }
                try:
                    await self._call("turn/steer", steer)
                    return Delivery.STEER
                except SessionStateError:
                    # Refused because the turn just ended? Then the text
                    # starts a new turn; otherwise the refusal stands.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._idle.wait(), 2.0)
                    if self._turn_id is not None:
                        raise
            if self.spec.settings.thread_mode == "stateless":
                await self._start_thread(Path(self.spec.workspace_dir))
            await self._start_turn(text)
            return Delivery.FOLLOW_UP

    async def reply(self, question_id: str, answer: human_loop_pb2.HumanLoopAnswer) -> None:
        """Answer a pending human-loop request, exactly once."""
        self._require_live()
        question = self._questions.get(question_id)
        if question is None:
            state = self._closed_questions.get(question_id)
            if state == "answered":
                raise QuestionAlreadyAnsweredError(question_id)
            if state == "canceled":
                raise QuestionCanceledError(question_id)
            raise QuestionNotFoundError(question_id)
        # Convert first: a malformed answer leaves the request pending.
        result = codex_answer(question.request.method, question.request.params, answer)
        del self._questions[question_id]
        self._closed_questions[question_id] = "answered"
        try:
            await question.request.respond(result)
        except AlreadyAnsweredError as exc:
            raise QuestionAlreadyAnsweredError(question_id) from exc
        except ConnectionClosedError as exc:
            raise SessionStateError("the agent process has ended") from exc

    async def interrupt(self) -> None:
        """Interrupt the running turn; it completes with status interrupted
        (and the commands it started are stopped before turn.completed)."""
        self._require_live()
        if self._turn_id is None:
            raise SessionStateError("no turn is running")
        await self._call("turn/interrupt", {"threadId": self._thread_id, "turnId": self._turn_id})

    async def close(self, reason: str = "", *, error_reason: str = "") -> None:
        """End the session: stop Codex (no process survives), export state."""
        if self._ending:
            await self._ended.wait()
            return
        if self._turn_id is not None and error_reason:
            outcome = SessionOutcome(
                Outcome.FAILED, reason or "closed while a turn was running", error_reason
            )
        elif self._turn_id is not None:
            outcome = SessionOutcome(Outcome.CANCELED, reason or "closed while a turn was running")
        else:
            outcome = self._outcome_from_last_turn()
        await self._finish(outcome)

    def _require_live(self) -> JsonRpcConnection:
        if not self._started or self._rpc is None:
            raise SessionStateError("session not started")
        if self._ending or self._rpc.closed:
            raise SessionStateError("session has ended")
        return self._rpc

    def _outcome_from_last_turn(self) -> SessionOutcome:
        if self._last_turn is None:
            return SessionOutcome(Outcome.COMPLETED)
        status, error = self._last_turn
        if status == events_pb2.TURN_STATUS_FAILED:
            return SessionOutcome(Outcome.FAILED, error or "the turn failed", "TURN_FAILED")
        if status == events_pb2.TURN_STATUS_INTERRUPTED:
            return SessionOutcome(Outcome.CANCELED, "the turn was interrupted")
        return SessionOutcome(Outcome.COMPLETED)

    # -- the message pump --------------------------------------------------

    async def _pump(self) -> None:
        assert self._rpc is not None
        async for message in self._rpc.incoming():
            try:
                if isinstance(message, Notification):
                    await self._on_notification(message)
                else:
                    await self._on_server_request(message)
            except Exception:
                # A message we cannot handle must not take the run down.
                log.exception("codex session %s: cannot handle %s", self.spec.run_id, message.method)
                self._emit(
                    self._translator.warning(
                        f"ccplane could not handle Codex message {message.method!r}",
                        reason="PROVIDER_MESSAGE_UNHANDLED",
                    )
                )
                if isinstance(message, ServerRequest) and not message.answered:
                    with contextlib.suppress(JsonRpcError):
                        await message.respond_error(INTERNAL_ERROR, "ccplane could not handle the request")
        if not self._ending:
            await self._on_process_lost()

    async def _on_notification(self, message: Notification) -> None:
        method, params = message.method, message.params
        if method == "thread/started":
            return  # reported from thread/start or thread/resume's answer
        if method == "serverRequest/resolved":
            self._on_request_resolved(params)
            return
        if method == "turn/completed":
            await self._on_turn_completed(params)
            return
        if method == "turn/started":
            self._note_turn_started(str((params.get("turn") or {}).get("id", "")))
        for event in self._translator.notification(method, params):
            self._emit(event)
        if method == "error" and params.get("willRetry"):
            await self._on_reconnect(params)
        elif method in ("item/started", "item/completed", "thread/tokenUsage/updated"):
            self._reset_reconnects()
            if method == "item/started" and self._process is not None:
                self._process.snapshot_descendants()

    async def _on_turn_completed(self, params: dict[str, Any]) -> None:
        turn = params.get("turn") or {}
        turn_id = str(turn.get("id", ""))
        status = turn_status(turn.get("status"))
        error = turn.get("error") or {}
        self._finished_turns.add(turn_id)
        if self._turn_id == turn_id:
            self._turn_id = None
            self._idle.set()
        self._last_turn = (status, str(error.get("message", "")) if isinstance(error, dict) else "")
        self._reset_reconnects()
        if status == events_pb2.TURN_STATUS_INTERRUPTED:
            # Before turn.completed: whoever sees it may rely on the work having stopped.
            await self._stop_background_commands()
        self._cancel_questions(lambda q: q.turn_id == turn_id, "the turn ended")
        for event in self._translator.notification("turn/completed", params):
            self._emit(event)
        await self._export_thread_state()

    async def _stop_background_commands(self) -> None:
        # Codex keeps an interrupted command running as a "background
        # terminal"; an interrupt in ccplane means the work stops.
        assert self._rpc is not None
        try:
            await self._rpc.request(
                "thread/backgroundTerminals/clean", {"threadId": self._thread_id}, timeout_s=5.0
            )
        except JsonRpcError as exc:
            log.warning("could not stop background commands of %s: %s", self.spec.run_id, exc)
        if self._process is not None:
            # Codex signals them; wait until they are gone (or kill them).
            await self._process.reap_tool_processes(grace_s=1.0)

    async def _on_reconnect(self, params: dict[str, Any]) -> None:
        self._reconnects += 1
        error = params.get("error") or {}
        message = str(error.get("message", "model unreachable") if isinstance(error, dict) else error)
        if self._reconnects > self.limits.max_reconnects:
            await self._fail(
                f"the model endpoint stayed unreachable after {self._reconnects} attempts: {message}",
                "MODEL_UNREACHABLE",
            )
        elif self._reconnect_timer is None:
            self._reconnect_timer = asyncio.create_task(
                self._reconnect_deadline(message), name=f"codex-reconnect-{self.spec.run_id}"
            )

    async def _reconnect_deadline(self, message: str) -> None:
        await asyncio.sleep(self.limits.reconnect_deadline)
        self._reconnect_timer = None
        await self._fail(
            f"the model endpoint stayed unreachable for {self.limits.reconnect_deadline:g}s: {message}",
            "MODEL_UNREACHABLE",
        )

    def _reset_reconnects(self) -> None:
        self._reconnects = 0
        if self._reconnect_timer is not None:
            self._reconnect_timer.cancel()
            self._reconnect_timer = None

    async def _on_server_request(self, request: ServerRequest) -> None:
        if request.method not in HUMAN_LOOP_KINDS:
            self._emit(self._translator.raw(request.method, request.params))
            self._emit(
                self._translator.warning(
                    f"Codex asked for {request.method!r}, which ccplane does not support; it was refused",
                    reason="UNSUPPORTED_PROVIDER_REQUEST",
                )
            )
            with contextlib.suppress(JsonRpcError):
                await request.respond_error(METHOD_NOT_FOUND, f"{request.method} is not supported")
            return
        question_id = new_id(QUESTION)
        turn_id = str(request.params.get("turnId") or self._turn_id or "")
        self._questions[question_id] = _Question(request, turn_id)
        self._question_by_rpc_id[request.id] = question_id
        self._emit(self._translator.human_loop_requested(question_id, request.method, request.params))

    def _on_request_resolved(self, params: dict[str, Any]) -> None:
        request_id = params.get("requestId")
        if request_id is None:
            return
        question_id = self._question_by_rpc_id.pop(request_id, None)
        if question_id is not None and question_id in self._questions:
            self._cancel_questions(lambda q: q.request.id == request_id, "withdrawn")

    def _cancel_questions(self, which: Any, reason: str) -> None:
        for question_id, question in list(self._questions.items()):
            if not which(question):
                continue
            del self._questions[question_id]
            self._closed_questions[question_id] = "canceled"
            event = self._translator.event("human_loop.canceled", turn_id=question.turn_id)
            event.human_loop_canceled.question_id = question_id
            event.human_loop_canceled.reason = f"the agent no longer needs the answer ({reason})"
            self._emit(event)

    async def _watch(self) -> None:
        """Notice Codex's death even when something still holds its stdout."""
        assert self._process is not None and self._rpc is not None
        await self._process.wait_exit()
        if self._ending:
            return
        # Let the pump handle what Codex wrote before it died.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._rpc.wait_closed(), 1.0)
        if not self._ending:
            await self._on_process_lost()

    async def _on_process_lost(self) -> None:
        process = self._process
        code = None
        if process is not None:
            await process.wait_exit(5.0)
            code = process.returncode
        tail = process.stderr_tail[-3:] if process is not None else []
        detail = f": {' | '.join(tail)}" if tail else ""
        await self._fail(f"codex app-server exited unexpectedly (code {code}){detail}", "CODEX_EXITED")

    # -- ending ------------------------------------------------------------

    async def _fail(self, message: str, reason: str) -> None:
        if self._ending:
            return
        log.warning("codex session %s failed: %s (%s)", self.spec.run_id, message, reason)
        self._emit(self._translator.error(message, reason=reason, turn_id=self._turn_id or ""))
        if self._turn_id is not None:
            self._emit(self._translator.turn_completed(self._turn_id, events_pb2.TURN_STATUS_FAILED, message))
            self._turn_id = None
            self._idle.set()
        await self._finish(SessionOutcome(Outcome.FAILED, message, reason))

    async def _finish(self, outcome: SessionOutcome) -> None:
        if self._ending:
            await self._ended.wait()
            return
        self._ending = True
        timer, self._reconnect_timer = self._reconnect_timer, None
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()
        try:
            if self._process is not None:
                await self._process.stop(grace=self.limits.stop_grace)
            if self._rpc is not None:
                await self._rpc.close("session ended")
            for task in (self._pump_task, self._watch_task):
                if task is not None and task is not asyncio.current_task():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await self._export_thread_state()
        finally:
            if self._model_proxy is not None:
                await self._model_proxy.stop()
            if self._owns_codex_home and self._codex_home is not None:
                await asyncio.to_thread(shutil.rmtree, self._codex_home, True)
            for question_id in self._questions:
                self._closed_questions[question_id] = "canceled"
            self._questions.clear()
            self._outcome = SessionOutcome(
                outcome.outcome, outcome.error, outcome.reason, self._thread_id or ""
            )
            self._events.put_nowait(None)
            self._ended.set()

    async def _export_thread_state(self) -> None:
        if self.spec.thread_state_dir is None or self._codex_home is None:
            return
        for thread_id, path in list(self._rollout_paths.items()):
            try:
                await asyncio.to_thread(
                    thread_state.export_rollout, path, self._codex_home, self.spec.thread_state_dir
                )
            except OSError as exc:
                log.warning("could not export thread %s state: %s", thread_id, exc)

    def _emit(self, event: events_pb2.RunEvent) -> None:
        if not self._ended.is_set():
            self._events.put_nowait(event)
