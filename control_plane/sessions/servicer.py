"""SessionService: thin gRPC layer over browser sessions."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import grpc

from ccplane.v1 import sessions_pb2, sessions_pb2_grpc
from common.db.engine import Database
from common.errors import failed_precondition, invalid_argument, permission_denied
from common.grpc_server import bearer_token
from control_plane.auth import Authenticator, Caller, current_caller
from control_plane.sessions import store


def _to_proto(caller: Caller, key_name: str) -> sessions_pb2.Session:
    session = sessions_pb2.Session(
        session_id=caller.session_id,
        tenant_id=caller.tenant_id,
        key_id=caller.key_id,
        key_name=key_name,
        role=caller.role,
        full_access=caller.full_access,
    )
    if caller.session_expires_at is not None:
        session.expire_time.FromDatetime(caller.session_expires_at)
    return session


class SessionServicer(sessions_pb2_grpc.SessionServiceServicer):
    def __init__(self, db: Database, authenticator: Authenticator, max_ttl_s: float) -> None:
        self._db = db
        self._authenticator = authenticator
        self._max_ttl = timedelta(seconds=max_ttl_s)

    async def CreateSession(
        self, request: sessions_pb2.CreateSessionRequest, context: grpc.aio.ServicerContext
    ) -> sessions_pb2.CreateSessionResponse:
        caller = current_caller()
        if caller.session_id:
            raise permission_denied(
                "API_KEY_REQUIRED", "a session cannot start another session: sign in with an API key"
            )
        ttl = self._max_ttl
        if request.HasField("ttl"):
            asked = request.ttl.ToTimedelta()
            if asked <= timedelta(0):
                raise invalid_argument("ttl", "must be positive")
            ttl = min(asked, self._max_ttl)
        async with self._db.session() as session, session.begin():
            new = await store.start(session, caller.key_id, caller.tenant_id, ttl)
            name = await store.key_name(session, caller.key_id)
        as_session = dataclasses.replace(caller, session_id=new.session_id, session_expires_at=new.expires_at)
        return sessions_pb2.CreateSessionResponse(session=_to_proto(as_session, name), token=new.token)

    async def GetSession(
        self, request: sessions_pb2.GetSessionRequest, context: grpc.aio.ServicerContext
    ) -> sessions_pb2.GetSessionResponse:
        caller = current_caller()
        async with self._db.session() as session:
            name = await store.key_name(session, caller.key_id)
        return sessions_pb2.GetSessionResponse(session=_to_proto(caller, name))

    async def DeleteSession(
        self, request: sessions_pb2.DeleteSessionRequest, context: grpc.aio.ServicerContext
    ) -> sessions_pb2.DeleteSessionResponse:
        caller = current_caller()
        if not caller.session_id:
            raise failed_precondition("NOT_A_SESSION", "the credential is an API key, not a session")
        async with self._db.session() as session, session.begin():
            await store.end(session, caller.session_id)
        self._authenticator.forget(bearer_token(context))
        return sessions_pb2.DeleteSessionResponse()
