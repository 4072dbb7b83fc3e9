"""RunService: thin gRPC layer over the run domain."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable

import grpc
from opentelemetry import trace

from ccplane.v1 import events_pb2, human_loop_pb2, runs_pb2, runs_pb2_grpc
from common import ids, tracing
from common.db.engine import Database
from common.errors import ServiceError, failed_precondition, invalid_argument
from common.logging import current_span_id, current_trace_id
from common.paging import page_size
from common.settings import Settings
from control_plane.auth import Caller, current_caller
from control_plane.events.delivery import deliver
from control_plane.events.feed import EventFeed
from control_plane.events.stream import list_run_events, stream_run_events, wait_until
from control_plane.human_loop.servicer import OnResolved, answer
from control_plane.runs import actions, store
from control_plane.runs.convert import run_to_proto
from control_plane.runs.permissions import check_run_settings
from control_plane.runs.records import RunRecord
from control_plane.runs.state_machine import TERMINAL, RunStatus, status_from_proto
from control_plane.runs.validation import require_id, validate_create_run, validate_request_id
from control_plane.todos.convert import todo_list_to_proto, todo_version_to_proto
from control_plane.todos.store import current_todos
from control_plane.todos.stream import stream_todo_events

# How long StopRun waits for the run to reach its final status before
# answering with the run as it is.
STOP_WAIT_S = 15.0
MAX_MESSAGE_CHARS = 100_000
MAX_REASON_CHARS = 1_000
# Responses a Connect stream holds for a reader that is behind.
CONNECT_BUFFER = 64


class RunServicer(runs_pb2_grpc.RunServiceServicer):
    def __init__(
        self, db: Database, settings: Settings, feed: EventFeed, *, on_resolved: OnResolved | None = None
    ) -> None:
        """``on_resolved`` hears of each human-loop request answered through Connect."""
        self._db = db
        self._settings = settings
        self._feed = feed
        self._on_resolved = on_resolved

    async def CreateRun(
        self, request: runs_pb2.CreateRunRequest, context: grpc.aio.ServicerContext
    ) -> runs_pb2.CreateRunResponse:
        # This call's span is the root of the run's trace (common/tracing.py).
        new = validate_create_run(
            request,
            default_model=self._settings.default_model,
            trace_id=current_trace_id(),
            trace_span_id=current_span_id(),
        )
        caller = current_caller()
        check_run_settings(request.settings, caller)
        async with self._db.session() as session, session.begin():
            run, _ = await store.create_run(session, caller, new)
        trace.get_current_span().set_attributes(tracing.run_attributes(run.id, run.tenant_id))
        return runs_pb2.CreateRunResponse(run=run_to_proto(run))

    async def GetRun(
        self, request: runs_pb2.GetRunRequest, context: grpc.aio.ServicerContext
    ) -> runs_pb2.GetRunResponse:
        run = await self._get(current_caller(), require_id(ids.RUN, "run_id", request.run_id))
        return runs_pb2.GetRunResponse(run=run_to_proto(run))

    async def ListRuns(
        self, request: runs_pb2.ListRunsRequest, context: grpc.aio.ServicerContext
    ) -> runs_pb2.ListRunsResponse:
        size = page_size(request.page_size)
        try:
            statuses = sorted({status_from_proto(s).value for s in request.status})
        except ValueError as exc:
            raise invalid_argument("status", str(exc)) from None
        if request.workspace_id:
            require_id(ids.WORKSPACE, "workspace_id", request.workspace_id)
        async with self._db.session() as session:
            runs, token = await store.list_runs(
                session,
                current_caller(),
                page_size=size,
                page_token=request.page_token,
                statuses=statuses,
                workspace_id=request.workspace_id,
                thread_id=request.thread_id,
            )
        return runs_pb2.ListRunsResponse(runs=[run_to_proto(r) for r in runs], next_page_token=token)

    async def StopRun(
        self, request: runs_pb2.StopRunRequest, context: grpc.aio.ServicerContext
    ) -> runs_pb2.StopRunResponse:
        caller = current_caller()
        run_id = require_id(ids.RUN, "run_id", request.run_id)
        validate_request_id(request.request_id)
        async with self._db.session() as session, session.begin():
            await actions.stop_run(session, caller, run_id, request.reason)
        run = await self._wait_for(caller, run_id, lambda r: RunStatus(r.status) in TERMINAL, STOP_WAIT_S)
        return runs_pb2.StopRunResponse(run=run_to_proto(run))

    async def InterruptRun(
        self, request: runs_pb2.InterruptRunRequest, context: grpc.aio.ServicerContext
    ) -> runs_pb2.InterruptRunResponse:
        caller = current_caller()
        run_id = require_id(ids.RUN, "run_id", request.run_id)
        if len(request.reason) > MAX_REASON_CHARS:
            raise invalid_argument("reason", f"must be at most {MAX_REASON_CHARS} characters")
        async with self._db.session() as session, session.begin():
            await actions.interrupt_run(session, caller, run_id, request.reason)
        return runs_pb2.InterruptRunResponse(run=run_to_proto(await self._get(caller, run_id)))

    async def SendMessage(
        self, request: runs_pb2.SendMessageRequest, context: grpc.aio.ServicerContext
    ) -> runs_pb2.SendMessageResponse:
        caller = current_caller()
        run_id = require_id(ids.RUN, "run_id", request.run_id)
        if not request.text.strip():
            raise invalid_argument("text", "must not be empty")
        if len(request.text) > MAX_MESSAGE_CHARS:
            raise invalid_argument("text", f"must be at most {MAX_MESSAGE_CHARS} characters")
        validate_request_id(request.request_id)
        async with self._db.session() as session, session.begin():
            delivery = await actions.send_message(session, caller, run_id, request.text, request.request_id)
        run = await self._get(caller, run_id)
        return runs_pb2.SendMessageResponse(run=run_to_proto(run), delivery=delivery)

    async def StreamRunEvents(
        self, request: runs_pb2.StreamRunEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[events_pb2.RunEvent]:
        events = stream_run_events(self._db, self._feed, current_caller(), request.run_id, request.after_seq)
        async for event in deliver(events, context, self._settings.stream_write_timeout, "after_seq"):
            yield event

    async def ListRunEvents(
        self, request: runs_pb2.ListRunEventsRequest, context: grpc.aio.ServicerContext
    ) -> runs_pb2.ListRunEventsResponse:
        return await list_run_events(self._db, current_caller(), request)

    async def ListTodos(
        self, request: runs_pb2.ListTodosRequest, context: grpc.aio.ServicerContext
    ) -> runs_pb2.ListTodosResponse:
        run_id = require_id(ids.RUN, "run_id", request.run_id)
        async with self._db.session() as session:
            return todo_list_to_proto(await current_todos(session, current_caller(), run_id))

    async def StreamTodoEvents(
        self, request: runs_pb2.StreamTodoEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[runs_pb2.StreamTodoEventsResponse]:
        versions = stream_todo_events(
            self._db, self._feed, current_caller(), request.run_id, request.after_version
        )
        async for version in deliver(versions, context, self._settings.stream_write_timeout, "after_version"):
            yield todo_version_to_proto(version)

    async def Connect(
        self, request_iterator: AsyncIterator[runs_pb2.ConnectRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[runs_pb2.ConnectResponse]:
        """Follow a run and act on it over one stream: the first message
        subscribes; later ones inject, reply or interrupt, each acknowledged
        with a ConnectAck in the order sent. Ends after the run's final event."""
        caller = current_caller()
        first = await anext(aiter(request_iterator), None)
        if first is None:
            return
        if first.WhichOneof("action") != "subscribe":
            raise failed_precondition(
                "SUBSCRIBE_FIRST", "the first message of a Connect stream must be subscribe"
            )
        run_id = require_id(ids.RUN, "subscribe.run_id", first.subscribe.run_id)
        # Bounded: while the reader is slow, events wait in the log, not here.
        out: asyncio.Queue[runs_pb2.ConnectResponse | None] = asyncio.Queue(maxsize=CONNECT_BUFFER)

        async def relay_events() -> None:
            try:
                async for event in stream_run_events(
                    self._db, self._feed, caller, run_id, first.subscribe.after_seq
                ):
                    await out.put(runs_pb2.ConnectResponse(event=event))
            except Exception:
                await out.put(None)  # the reader re-raises it from this task
                raise
            await out.put(None)

        async def perform_actions() -> None:
            async for request in request_iterator:
                await out.put(runs_pb2.ConnectResponse(ack=await self._act(caller, run_id, request)))

        async def responses() -> AsyncGenerator[runs_pb2.ConnectResponse, None]:
            while (item := await out.get()) is not None:
                yield item
            events.result()  # re-raise a stream error (NOT_FOUND, ...)

        events = asyncio.create_task(relay_events(), name=f"connect-events-{run_id}")
        acts = asyncio.create_task(perform_actions(), name=f"connect-actions-{run_id}")
        try:
            timeout = self._settings.stream_write_timeout
            async for item in deliver(responses(), context, timeout, "subscribe.after_seq"):
                yield item
        finally:
            for task in (events, acts):
                task.cancel()
            for task in (events, acts):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _act(
        self, caller: Caller, run_id: str, request: runs_pb2.ConnectRequest
    ) -> runs_pb2.ConnectAck:
        action = request.WhichOneof("action") or ""
        ack = runs_pb2.ConnectAck(action=action)
        try:
            if action == "inject":
                if not request.inject.text.strip():
                    raise invalid_argument("inject.text", "must not be empty")
                validate_request_id(request.inject.request_id)
                async with self._db.session() as session, session.begin():
                    delivery = await actions.send_message(
                        session, caller, run_id, request.inject.text, request.inject.request_id
                    )
                run = await self._get(caller, run_id)
                ack.message_result.CopyFrom(
                    runs_pb2.SendMessageResponse(run=run_to_proto(run), delivery=delivery)
                )
            elif action == "reply":
                reply = human_loop_pb2.ReplyRequest()
                reply.CopyFrom(request.reply)
                reply.run_id = reply.run_id or run_id
                if reply.run_id != run_id:
                    raise invalid_argument("reply.run_id", "must be the subscribed run")
                ack.reply_result.CopyFrom(
                    await answer(self._db, caller, reply, on_resolved=self._on_resolved)
                )
            elif action == "interrupt":
                async with self._db.session() as session, session.begin():
                    await actions.interrupt_run(session, caller, run_id, request.interrupt.reason)
            else:
                raise failed_precondition("ALREADY_SUBSCRIBED", "a Connect stream subscribes once")
        except ServiceError as exc:
            ack.code = exc.code.value[0]
            ack.message = exc.message
        return ack

    # -- helpers ---------------------------------------------------------------

    async def _get(self, caller: Caller, run_id: str) -> RunRecord:
        async with self._db.session() as session:
            return await store.get_run(session, caller, run_id)

    async def _wait_for(
        self, caller: Caller, run_id: str, done: Callable[[RunRecord], bool], wait_s: float
    ) -> RunRecord:
        """The run once ``done(run)`` holds, or as it is after ``wait_s`` seconds."""

        async def probe() -> RunRecord | None:
            run = await self._get(caller, run_id)
            return run if done(run) else None

        try:
            async with asyncio.timeout(wait_s):
                return await wait_until(self._feed, run_id, probe)
        except TimeoutError:
            return await self._get(caller, run_id)
