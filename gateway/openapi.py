"""An OpenAPI 3.1 document generated from the same descriptors as the routes.

Paths and operations come from the HTTP bindings; parameters from the path
variables and the request fields the URL may set (proto names, dotted for
nested fields); request bodies from ``body``; schemas from every message
reachable from the operations, in their proto3 JSON form: lowerCamelCase
property names, enums as string enums, 64-bit integers as strings,
well-known types in their JSON shapes. Errors are ``google.rpc.Status``.
Server-streaming operations answer ``text/event-stream``; their schema
describes one event (``id``, ``event``, ``data``), its ``data`` being the
streamed message as JSON (``contentMediaType``/``contentSchema``), or a
``google.rpc.Status`` in an ``error`` event.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from gateway.contract import Contract, HttpBinding, is_output_only, is_required
from gateway.session import COOKIE, SESSION_PATH
from gateway.sse import stream_shape
from gateway.transcode import (
    SCALAR_WKTS,
    WKT_PREFIX,
    enum_of,
    is_map,
    is_repeated,
    message_of,
    resolve_path,
)
from gateway.upload import UPLOAD_PATH

STATUS = "google.rpc.Status"
JsonObject = dict[str, Any]
_INT64 = {"type": "string", "format": "int64", "pattern": "^-?[0-9]+$"}
_UINT64 = {"type": "string", "format": "uint64", "pattern": "^[0-9]+$"}
_INT32 = {"type": "integer", "format": "int32", "minimum": -(2**31), "maximum": 2**31 - 1}
_UINT32 = {"type": "integer", "format": "int64", "minimum": 0, "maximum": 2**32 - 1}
_SCALARS: dict[int, JsonObject] = {
    FieldDescriptor.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number", "format": "float"},
    FieldDescriptor.TYPE_INT64: _INT64,
    FieldDescriptor.TYPE_SINT64: _INT64,
    FieldDescriptor.TYPE_SFIXED64: _INT64,
    FieldDescriptor.TYPE_UINT64: _UINT64,
    FieldDescriptor.TYPE_FIXED64: _UINT64,
    FieldDescriptor.TYPE_INT32: _INT32,
    FieldDescriptor.TYPE_SINT32: _INT32,
    FieldDescriptor.TYPE_SFIXED32: _INT32,
    FieldDescriptor.TYPE_UINT32: _UINT32,
    FieldDescriptor.TYPE_FIXED32: _UINT32,
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BYTES: {"type": "string", "format": "byte"},
}
_WKT_SCHEMAS: dict[str, JsonObject] = {
    "Timestamp": {"type": "string", "format": "date-time"},
    "Duration": {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$", "examples": ["1.5s"]},
    "FieldMask": {"type": "string"},
    "Struct": {"type": "object", "additionalProperties": True},
    "Value": {"description": "Any JSON value."},
    "ListValue": {"type": "array", "items": {}},
    "Empty": {"type": "object", "additionalProperties": False},
    "Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "required": ["@type"],
        "additionalProperties": True,
    },
    "DoubleValue": _SCALARS[FieldDescriptor.TYPE_DOUBLE],
    "FloatValue": _SCALARS[FieldDescriptor.TYPE_FLOAT],
    "Int64Value": _INT64,
    "UInt64Value": _UINT64,
    "Int32Value": _INT32,
    "UInt32Value": _UINT32,
    "BoolValue": {"type": "boolean"},
    "StringValue": {"type": "string"},
    "BytesValue": {"type": "string", "format": "byte"},
}
# Query parameters reach this deep into nested messages.
_MAX_QUERY_DEPTH = 3


def build_openapi(contract: Contract, *, title: str = "ccplane API", version: str = "v1") -> JsonObject:
    builder = _Builder(contract)
    paths: dict[str, JsonObject] = {}
    for binding in contract.bindings:
        path = paths.setdefault(binding.template.openapi_path, {})
        path[binding.http_method.lower()] = builder.operation(binding)
    paths[UPLOAD_PATH] = {"post": builder.upload_operation()}
    paths[SESSION_PATH].update(builder.session_operations())
    builder.schema_ref(contract.pool.FindMessageTypeByName(STATUS))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": (
                "REST and Server-Sent Events in front of the ccplane gRPC services, generated from the "
                "google.api.http annotations of the ccplane.v1 contract. Bodies are proto3 JSON. "
                "Every call sends an API key as `Authorization: Bearer <key>`; another tenant's "
                "resources answer 404, limits 429 with `Retry-After`."
            ),
        },
        "security": [{"apiKey": []}, {"sessionCookie": []}],
        "tags": [
            {"name": s.rsplit(".", 1)[-1], "description": contract.comment(s)} for s in contract.services
        ],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(builder.schemas.items())),
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A ccplane API key (`ccplane api-keys create --tenant T`).",
                },
                "sessionCookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": COOKIE,
                    "description": (
                        "The browser session `POST /api/session` starts. Unsafe methods with the "
                        "cookie must come from the gateway's own origin (`Origin`)."
                    ),
                },
            },
        },
    }


class _Builder:
    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self.schemas: dict[str, JsonObject] = {}

    # -- operations -------------------------------------------------------------------

    def operation(self, binding: HttpBinding) -> JsonObject:
        method = binding.method
        request = method.input_type
        description = self.contract.comment(method.full_name)
        op: JsonObject = {
            "operationId": binding.operation_id,
            "tags": [binding.service.rsplit(".", 1)[-1]],
            "summary": _first_sentence(description) or method.name,
        }
        if description:
            op["description"] = description
        parameters: list[JsonObject] = []
        bound_top: set[str] = set()
        for var in binding.template.variables:
            fields = resolve_path(request, var.field_path)
            bound_top.add(fields[0].name)
            schema = self.field_schema(fields[-1], for_parameter=True)
            if schema.get("type") == "string":
                schema = {**schema, "minLength": 1}
            parameters.append(
                {
                    "name": var.field_path,
                    "in": "path",
                    "required": True,
                    "schema": schema,
                    **self._describe(fields[-1]),
                }
            )
        for segment_name in _wildcard_names(binding):
            parameters.append(
                {"name": segment_name, "in": "path", "required": True, "schema": {"type": "string"}}
            )
        if binding.body != "*":
            skip = set(bound_top)
            if binding.body:
                skip.add(resolve_path(request, binding.body)[0].name)
            for name, fd in self._query_fields(request, "", skip, 0):
                parameter = {"name": name, "in": "query", "required": False, **self._query_schema(fd)}
                parameters.append({**parameter, **self._describe(fd)})
        if binding.server_streaming:
            shape = stream_shape(method)
            if shape.cursor is not None:
                parameters.append(
                    {
                        "name": "Last-Event-ID",
                        "in": "header",
                        "required": False,
                        "description": (
                            f"Resume after this event id; `{shape.cursor.name}` wins when both are set."
                        ),
                        "schema": {"type": "string", "pattern": "^[0-9]+$"},
                    }
                )
        if parameters:
            op["parameters"] = parameters
        if binding.body:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": self._body_schema(binding, bound_top)}},
            }
        op["responses"] = {
            "200": self._success(binding),
            "default": {
                "description": "An error: the gRPC status as google.rpc.Status JSON.",
                "content": {"application/json": {"schema": self.schema_ref(self._status())}},
            },
        }
        return op

    def upload_operation(self) -> JsonObject:
        """The gateway's own upload route (Envoy has no client streaming):
        a raw or multipart body streamed into ``UploadFile``."""

        def query(name: str, description: str, schema: JsonObject, required: bool = False) -> JsonObject:
            return {
                "name": name,
                "in": "query",
                "required": required,
                "description": description,
                "schema": schema,
            }

        integer: JsonObject = {"type": "integer", "minimum": 0}
        response = self.contract.pool.FindMessageTypeByName("ccplane.v1.UploadFileResponse")
        return {
            "operationId": "WorkspaceService_UploadFile",
            "tags": ["WorkspaceService"],
            "summary": "Upload one file into a workspace as a new version.",
            "description": (
                "The body (raw bytes, or multipart/form-data with a `file` part) is streamed into the "
                "client-streaming UploadFile RPC, so its size is bounded by the workspace limits only."
            ),
            "parameters": [
                {"name": "workspace_id", "in": "path", "required": True, "schema": {"type": "string"}},
                query(
                    "path", "where the file goes, relative to the workspace root", {"type": "string"}, True
                ),
                query("expectedVersion", "refuse (409) unless the workspace is at this version", integer),
                query("mode", "file mode bits (default 0644)", {**integer, "maximum": 2**32 - 1}),
                query("size", "the announced size; a different arrival is refused", integer),
                query("requestId", "makes retries idempotent", {"type": "string"}),
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {"file": {"type": "string", "format": "binary"}},
                            "required": ["file"],
                        }
                    },
                },
            },
            "responses": {
                "200": {
                    "description": "The new version and the file.",
                    "content": {"application/json": {"schema": self.schema_ref(response)}},
                },
                "default": {
                    "description": "An error: the gRPC status as google.rpc.Status JSON.",
                    "content": {"application/json": {"schema": self.schema_ref(self._status())}},
                },
            },
        }

    def session_operations(self) -> dict[str, JsonObject]:
        """The gateway's own sign-in and sign-out routes (they set and clear the cookie)."""
        session = self.contract.pool.FindMessageTypeByName("ccplane.v1.Session")
        error = {
            "description": "An error: the gRPC status as google.rpc.Status JSON.",
            "content": {"application/json": {"schema": self.schema_ref(self._status())}},
        }
        return {
            "post": {
                "operationId": "SessionService_SignIn",
                "tags": ["SessionService"],
                "summary": "Sign a browser in with an API key.",
                "description": (
                    "Starts a session for the key and answers with it in an HttpOnly, SameSite=Strict "
                    f"cookie `{COOKIE}`; the key itself is not kept. 401 for an unknown or revoked key."
                ),
                "security": [],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"apiKey": {"type": "string", "minLength": 1}},
                                "required": ["apiKey"],
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "Signed in: who the session stands for (the cookie is set).",
                        "content": {"application/json": {"schema": self.schema_ref(session)}},
                    },
                    "default": error,
                },
            },
            "delete": {
                "operationId": "SessionService_SignOut",
                "tags": ["SessionService"],
                "summary": "Sign out: end the session and clear its cookie.",
                "responses": {
                    "200": {"description": "Signed out.", "content": {"application/json": {"schema": {}}}},
                    "default": error,
                },
            },
        }

    def _status(self) -> Descriptor:
        return self.contract.pool.FindMessageTypeByName(STATUS)

    def _success(self, binding: HttpBinding) -> JsonObject:
        output = binding.method.output_type
        if binding.server_streaming:
            shape = stream_shape(binding.method)
            lines = []
            if shape.event_id is not None:
                lines.append(f"`id:` the message's `{shape.event_id.json_name}`")
            if shape.event_type is not None:
                lines.append(f"`event:` its `{shape.event_type.json_name}`")
            elif shape.fixed_event:
                lines.append(f"`event: {shape.fixed_event}`")
            lines.append(f"`data:` the {output.full_name} as JSON")
            return {
                "description": (
                    "Server-Sent Events, one frame per message: "
                    + ", ".join(lines)
                    + ". A failure after the first frame is an `event: error` frame whose data is a "
                    "google.rpc.Status; `: keep-alive` comments keep idle streams open."
                ),
                "content": {"text/event-stream": {"schema": self._event_schema(binding)}},
            }
        if binding.response_body:
            fields = resolve_path(output, binding.response_body)
            schema = self.field_schema(fields[-1])
        else:
            schema = self.schema_ref(output)
        return {"description": f"{output.full_name}", "content": {"application/json": {"schema": schema}}}

    def _event_schema(self, binding: HttpBinding) -> JsonObject:
        """One SSE event as clients parse it: ``data`` is JSON of the message, or of a Status on error."""

        def data(schema: JsonObject) -> JsonObject:
            # contentSchema applies where contentMediaType sits: keep them together.
            return {"properties": {"data": {"contentMediaType": "application/json", "contentSchema": schema}}}

        return {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "event": {"type": "string"},
                "data": {"type": "string"},
                "retry": {"type": "integer"},
            },
            "required": ["data"],
            "if": {"properties": {"event": {"const": "error"}}, "required": ["event"]},
            "then": data(self.schema_ref(self._status())),
            "else": data(self.schema_ref(binding.method.output_type)),
        }

    def _body_schema(self, binding: HttpBinding, bound_top: set[str]) -> JsonObject:
        request = binding.method.input_type
        if binding.body != "*":
            return self.field_schema(resolve_path(request, binding.body)[-1])
        if not bound_top:
            return self.schema_ref(request)
        # The request message without the fields the path binds.
        schema = self._message_schema(request, skip=bound_top)
        required = [fd.json_name for fd in request.fields if is_required(fd) and fd.name not in bound_top]
        if required:
            schema["required"] = required
        return schema

    def _query_fields(
        self, message: Descriptor, prefix: str, skip: set[str], depth: int
    ) -> list[tuple[str, FieldDescriptor]]:
        out: list[tuple[str, FieldDescriptor]] = []
        for fd in message.fields:
            if fd.name in skip or is_map(fd):
                continue
            name = prefix + fd.name
            if fd.type != FieldDescriptor.TYPE_MESSAGE or message_of(fd).full_name in SCALAR_WKTS:
                out.append((name, fd))
            elif (
                not is_repeated(fd)
                and depth < _MAX_QUERY_DEPTH
                and not message_of(fd).full_name.startswith(WKT_PREFIX)
            ):
                out.extend(self._query_fields(message_of(fd), name + ".", set(), depth + 1))
        return out

    def _query_schema(self, fd: FieldDescriptor) -> JsonObject:
        single = self.field_schema(fd, for_parameter=True, single=True)
        if is_repeated(fd):
            return {"schema": {"type": "array", "items": single}, "style": "form", "explode": True}
        return {"schema": single}

    def _describe(self, fd: FieldDescriptor) -> JsonObject:
        text = self.contract.comment(fd.full_name)
        return {"description": text} if text else {}

    # -- schemas ----------------------------------------------------------------------

    def schema_ref(self, descriptor: Descriptor | EnumDescriptor) -> JsonObject:
        name = descriptor.full_name
        if name not in self.schemas:
            self.schemas[name] = {}  # reserve first: messages may be recursive
            if isinstance(descriptor, EnumDescriptor):
                self.schemas[name] = self._enum_schema(descriptor)
            elif name.startswith(WKT_PREFIX) and name.removeprefix(WKT_PREFIX) in _WKT_SCHEMAS:
                self.schemas[name] = dict(_WKT_SCHEMAS[name.removeprefix(WKT_PREFIX)])
            else:
                self.schemas[name] = self._message_schema(descriptor)
        return {"$ref": f"#/components/schemas/{name}"}

    def _message_schema(self, descriptor: Descriptor, skip: set[str] | None = None) -> JsonObject:
        properties: JsonObject = {}
        for fd in descriptor.fields:
            if skip and fd.name in skip:
                continue
            prop = self.field_schema(fd)
            text = self.contract.comment(fd.full_name)
            extra: JsonObject = {}
            if text:
                extra["description"] = text
            if is_output_only(fd):
                extra["readOnly"] = True
            if extra:
                # Keep $ref alone (OpenAPI 3.0 tools ignore its siblings): wrap it.
                prop = {**prop, **extra} if "$ref" not in prop else {"allOf": [prop], **extra}
            properties[fd.json_name] = prop
        schema: JsonObject = {"type": "object", "properties": properties, "additionalProperties": False}
        text = self.contract.comment(descriptor.full_name)
        if text:
            schema["description"] = text
        return schema

    def _enum_schema(self, descriptor: EnumDescriptor) -> JsonObject:
        schema: JsonObject = {"type": "string", "enum": [v.name for v in descriptor.values]}
        text = self.contract.comment(descriptor.full_name)
        if text:
            schema["description"] = text
        return schema

    def field_schema(
        self, fd: FieldDescriptor, *, for_parameter: bool = False, single: bool = False
    ) -> JsonObject:
        if is_map(fd) and not single:
            value = self.field_schema(message_of(fd).fields_by_name["value"])
            return {"type": "object", "additionalProperties": value}
        if is_repeated(fd) and not single:
            return {"type": "array", "items": self.field_schema(fd, single=True)}
        if fd.type == FieldDescriptor.TYPE_ENUM:
            if for_parameter:
                return self._enum_schema(enum_of(fd))
            return self.schema_ref(enum_of(fd))
        if fd.type == FieldDescriptor.TYPE_MESSAGE:
            name = message_of(fd).full_name
            if for_parameter and name.removeprefix(WKT_PREFIX) in _WKT_SCHEMAS:
                return dict(_WKT_SCHEMAS[name.removeprefix(WKT_PREFIX)])
            return self.schema_ref(message_of(fd))
        return dict(_SCALARS[fd.type])


def _wildcard_names(binding: HttpBinding) -> list[str]:
    path = binding.template.openapi_path
    return [part[1:-1] for part in path.split("/") if part.startswith("{_wildcard")]


def _first_sentence(text: str) -> str:
    paragraph = text.split("\n\n", 1)[0].replace("\n", " ").strip()
    head, sep, _ = paragraph.partition(". ")
    return head + "." if sep else paragraph


def main(argv: list[str] | None = None) -> int:
    """``python -m gateway.openapi OUT_PATH``: write the document for the portal's generated types."""
    import argparse
    import json
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m gateway.openapi", description=main.__doc__)
    parser.add_argument("out", type=Path, help="where to write the OpenAPI document (JSON)")
    args = parser.parse_args(argv)
    document = build_openapi(Contract.load(None))
    args.out.write_text(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
