"""HTTP request ⇄ protobuf message, the way Envoy's gRPC-JSON transcoder does it.

A request message is woven from three sources: the JSON body (``body: "*"``
or one field), the path variables, and the query parameters (field paths,
dotted for nested fields, by JSON name or proto name, repeated by repeating
the key; enums by name or number). A field bound by the URL that the body
also sets to a different value is refused, as Envoy does with
``reject_binding_body_field_collisions``. Every problem is a
:class:`RequestError` naming the field, which the gateway answers with 400.

Responses print as proto3 JSON with the transcoder's default print options:
lowerCamelCase names, enums as names, 64-bit integers as strings, fields
with default values left out, no whitespace.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote, unquote_plus

from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

# The Envoy transcoder options this module behaves like. deploy/envoy/envoy.yaml sets the same
# ones; tests/contract/test_envoy_config.py keeps the two equal.
PRINT_OPTIONS = {
    "add_whitespace": False,
    "always_print_primitive_fields": False,
    "always_print_enums_as_ints": False,
    "preserve_proto_field_names": False,
    "stream_sse_style_delimited": True,
}
REQUEST_VALIDATION = {
    "reject_unknown_method": True,
    "reject_unknown_query_parameters": True,
    "reject_binding_body_field_collisions": True,
}
QUERY_PARAM_UNESCAPE_PLUS = True

WKT_PREFIX = "google.protobuf."
# Well-known types whose JSON form is a single value, so a query parameter can set them.
SCALAR_WKTS = frozenset(
    WKT_PREFIX + name
    for name in (
        "Timestamp",
        "Duration",
        "FieldMask",
        "DoubleValue",
        "FloatValue",
        "Int64Value",
        "UInt64Value",
        "Int32Value",
        "UInt32Value",
        "BoolValue",
        "StringValue",
        "BytesValue",
    )
)
_INT_RANGES: dict[int, tuple[int, int]] = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


_ONEOF_ERROR = re.compile(r'multiple "(\w+)" oneof fields')


class RequestError(ValueError):
    """A request the gateway cannot turn into a message; ``field`` names where."""

    def __init__(self, field: str, description: str) -> None:
        super().__init__(f"{field}: {description}" if field else description)
        self.field = field
        self.description = description


# -- field resolution -------------------------------------------------------------


def find_field(descriptor: Descriptor, name: str) -> FieldDescriptor | None:
    """A field by JSON name, then by proto name (Envoy's TypeInfo::FindField order)."""
    for fd in descriptor.fields:
        if fd.json_name == name:
            return fd
    return descriptor.fields_by_name.get(name)


def message_of(fd: FieldDescriptor) -> Descriptor:
    """The message type of a message field."""
    assert fd.message_type is not None, fd.full_name
    return fd.message_type


def enum_of(fd: FieldDescriptor) -> EnumDescriptor:
    """The enum type of an enum field."""
    assert fd.enum_type is not None, fd.full_name
    return fd.enum_type


def descriptor_of(message: Message) -> Descriptor:
    descriptor: Descriptor = message.DESCRIPTOR  # type: ignore[assignment]  # the upb class is one
    return descriptor


def is_map(fd: FieldDescriptor) -> bool:
    return (
        fd.type == FieldDescriptor.TYPE_MESSAGE
        and fd.is_repeated
        and bool(message_of(fd).GetOptions().map_entry)
    )


def is_repeated(fd: FieldDescriptor) -> bool:
    return bool(fd.is_repeated)


def resolve_path(descriptor: Descriptor, dotted: str) -> list[FieldDescriptor]:
    """The fields along ``dotted`` (``a.b.c``); every step but the last must be a singular message."""
    fields: list[FieldDescriptor] = []
    current = descriptor
    names = [n for n in dotted.split(".") if n]
    if not names:
        raise RequestError(dotted, "is not a field path")
    for i, name in enumerate(names):
        fd = find_field(current, name)
        if fd is None and "%" in name:
            fd = find_field(current, unquote(name))
        if fd is None:
            raise RequestError(dotted, f'could not find field "{name}" in the type "{current.full_name}"')
        fields.append(fd)
        if i < len(names) - 1:
            if fd.type != FieldDescriptor.TYPE_MESSAGE or is_repeated(fd):
                raise RequestError(dotted, f'"{name}" is not a singular message field')
            current = message_of(fd)
    return fields


# -- the JSON body ------------------------------------------------------------------


def parse_json_body(raw: bytes) -> Any:
    """The decoded JSON body; an empty body is an empty object."""
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise RequestError("body", "is not UTF-8") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise RequestError("body", f"malformed JSON: {exc.msg} at {where}") from None
    except RecursionError:
        raise RequestError("body", "is nested too deeply") from None


def body_into(message: Message, body_path: str, value: Any, pool: descriptor_pool.DescriptorPool) -> set[str]:
    """Merge the decoded JSON ``value`` into ``message`` at ``body_path`` ("*" or a field path).

    Returns the proto field paths the body set (for collision checks).
    """
    descriptor = descriptor_of(message)
    document = value
    if body_path == "*":
        if not isinstance(value, dict):
            raise RequestError("body", "must be a JSON object")
    else:
        for fd in reversed(resolve_path(descriptor, body_path)):
            document = {fd.name: document}
    check_json(descriptor, document, "")
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=False, descriptor_pool=pool)
    except json_format.ParseError as exc:
        raise RequestError(_parse_error_field(str(exc)), _parse_error_description(str(exc))) from None
    except RecursionError:
        raise RequestError("body", "is nested too deeply") from None
    return _set_paths(message)


def check_json(descriptor: Descriptor, value: Any, path: str) -> None:
    """Reject what json_format would accept silently or report without a field path.

    Checks object/array shapes, unknown field names and enum names, naming
    the field the way the client wrote it (``settings.mcpServers["x"].args``).
    Scalar values are left to json_format.
    """
    if descriptor.full_name.startswith(WKT_PREFIX):
        return
    if not isinstance(value, dict):
        raise RequestError(path or "body", f"must be a JSON object ({descriptor.full_name})")
    seen: dict[int, str] = {}
    for key, item in value.items():
        fd = find_field(descriptor, key)
        where = f"{path}.{key}" if path else key
        if fd is None:
            raise RequestError(where, f'unknown field "{key}" in {descriptor.full_name}')
        if fd.number in seen:
            raise RequestError(where, f'set twice (as "{seen[fd.number]}" and "{key}")')
        seen[fd.number] = key
        if item is None:
            continue
        _check_field(fd, item, where)


def _check_field(fd: FieldDescriptor, item: Any, where: str) -> None:
    if is_map(fd):
        if not isinstance(item, dict):
            raise RequestError(where, "must be a JSON object (a map)")
        value_fd = message_of(fd).fields_by_name["value"]
        for key, sub in item.items():
            if sub is not None:
                _check_single(value_fd, sub, f"{where}[{json.dumps(key)}]")
        return
    if is_repeated(fd):
        if not isinstance(item, list):
            raise RequestError(where, "must be a JSON array")
        for i, sub in enumerate(item):
            _check_single(fd, sub, f"{where}[{i}]")
        return
    _check_single(fd, item, where)


def _check_single(fd: FieldDescriptor, item: Any, where: str) -> None:
    if fd.type == FieldDescriptor.TYPE_MESSAGE:
        if message_of(fd).full_name == WKT_PREFIX + "Value":
            return
        check_json(message_of(fd), item, where)
    elif fd.type == FieldDescriptor.TYPE_ENUM and enum_of(fd).full_name != WKT_PREFIX + "NullValue":
        enum = enum_of(fd)
        if isinstance(item, str):
            if item not in enum.values_by_name:
                raise RequestError(where, f'invalid value "{item}" for enum {enum.full_name}')
        elif isinstance(item, bool) or not isinstance(item, int):
            raise RequestError(where, f"must be an enum value name or number ({enum.full_name})")


def _parse_error_field(text: str) -> str:
    """The field path a json_format ParseError names ("Failed to parse a field: ... b field")."""
    oneof = _ONEOF_ERROR.search(text)
    names: list[str] = []
    rest = text
    marker = "Failed to parse "
    while rest.startswith(marker):
        head, sep, tail = rest[len(marker) :].partition(" field: ")
        if not sep:
            break
        names.append(head)
        rest = tail
    if oneof:
        names.append(oneof.group(1))
    return ".".join(names) or "body"


def _parse_error_description(text: str) -> str:
    rest = text
    while rest.startswith("Failed to parse ") and " field: " in rest:
        rest = rest.split(" field: ", 1)[1]
    return rest.split(" at ", 1)[0].rstrip(".") if " at " in rest else rest.rstrip(".")


def _set_paths(message: Message, prefix: str = "") -> set[str]:
    out: set[str] = set()
    for fd, value in message.ListFields():
        path = prefix + fd.name
        out.add(path)
        if (
            fd.type == FieldDescriptor.TYPE_MESSAGE
            and not is_repeated(fd)
            and not message_of(fd).full_name.startswith(WKT_PREFIX)
        ):
            out |= _set_paths(value, path + ".")
    return out


# -- URL bindings (path variables and query parameters) ---------------------------------


def parse_query(query_string: bytes) -> list[tuple[str, str]]:
    """``name=value`` pairs in order; like Envoy, pairs without ``=`` or a name are skipped.

    ``+`` decodes to a space (``query_param_unescape_plus: true`` in Envoy).
    """
    pairs: list[tuple[str, str]] = []
    try:
        text = query_string.decode("ascii")
    except UnicodeDecodeError:
        raise RequestError("query", "must be ASCII (percent-encode other characters)") from None
    for part in text.split("&"):
        name, sep, value = part.partition("=")
        if not sep or not name:
            continue
        unescape = unquote_plus if QUERY_PARAM_UNESCAPE_PLUS else unquote
        pairs.append((name, unescape(value, errors="surrogateescape")))
    return pairs


def bind(message: Message, field_path: str, text: str, body_paths: set[str], bound: set[str]) -> None:
    """Set the field at ``field_path`` of ``message`` from the URL text ``text``.

    ``body_paths`` are the fields the body set: a different value here is a
    collision. ``bound`` collects the fields bound so far (repeated fields
    accumulate, singular ones take the last value).
    """
    fields = resolve_path(descriptor_of(message), field_path)
    proto_path = ".".join(fd.name for fd in fields)
    target = message
    for fd in fields[:-1]:
        target = getattr(target, fd.name)
    fd = fields[-1]
    if is_map(fd):
        raise RequestError(field_path, "a map field cannot be set from the URL")
    if fd.type == FieldDescriptor.TYPE_MESSAGE and message_of(fd).full_name not in SCALAR_WKTS:
        raise RequestError(field_path, "a message field cannot be set from the URL")
    value = _value_from_text(fd, text, field_path)
    if is_repeated(fd):
        if proto_path in body_paths:
            raise RequestError(field_path, "is set in both the body and the URL")
        container = getattr(target, fd.name)
        if isinstance(value, Message):
            container.add().CopyFrom(value)
        else:
            container.append(value)
    elif isinstance(value, Message):
        current = getattr(target, fd.name)
        if proto_path in body_paths and proto_path not in bound and current != value:
            raise RequestError(field_path, "has different values in the body and the URL")
        current.CopyFrom(value)
    else:
        current = getattr(target, fd.name)
        if proto_path in body_paths and proto_path not in bound and current != value:
            raise RequestError(field_path, "has different values in the body and the URL")
        setattr(target, fd.name, value)
    bound.add(proto_path)


def _value_from_text(fd: FieldDescriptor, text: str, where: str) -> Any:
    t = fd.type
    if t == FieldDescriptor.TYPE_STRING:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise RequestError(where, "is not valid UTF-8") from None
        return text
    if t == FieldDescriptor.TYPE_BOOL:
        if text in ("true", "false"):
            return text == "true"
        raise RequestError(where, f'invalid value "{text}" for a boolean (true or false)')
    if t in _INT_RANGES:
        low, high = _INT_RANGES[t]
        try:
            number = int(text, 10)
        except ValueError:
            raise RequestError(where, f'invalid value "{text}" for an integer') from None
        if not low <= number <= high:
            raise RequestError(where, f"{number} is out of range")
        return number
    if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        try:
            return float(text)
        except ValueError:
            raise RequestError(where, f'invalid value "{text}" for a number') from None
    if t == FieldDescriptor.TYPE_BYTES:
        padded = text + "=" * (-len(text) % 4)
        try:
            return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            raise RequestError(where, "is not base64") from None
    if t == FieldDescriptor.TYPE_ENUM:
        enum = enum_of(fd)
        value = enum.values_by_name.get(text)
        if value is not None:
            return value.number
        try:
            return int(text, 10)
        except ValueError:
            raise RequestError(where, f'invalid value "{text}" for enum {enum.full_name}') from None
    # A well-known type with a scalar JSON form.
    sub = _wkt_class(fd)()
    try:
        json_format.Parse(json.dumps(text), sub)
    except json_format.ParseError as exc:
        raise RequestError(where, _parse_error_description(str(exc))) from None
    return sub


def _wkt_class(fd: FieldDescriptor) -> type[Message]:
    return message_factory.GetMessageClass(message_of(fd))


# -- responses ----------------------------------------------------------------------


def message_to_json(message: Message, pool: descriptor_pool.DescriptorPool) -> bytes:
    """Compact proto3 JSON as Envoy's transcoder prints it by default."""
    document = json_format.MessageToDict(
        message,
        always_print_fields_with_no_presence=PRINT_OPTIONS["always_print_primitive_fields"],
        preserving_proto_field_name=PRINT_OPTIONS["preserve_proto_field_names"],
        use_integers_for_enums=PRINT_OPTIONS["always_print_enums_as_ints"],
        descriptor_pool=pool,
    )
    return dumps(document)


def dumps(document: Any) -> bytes:
    """JSON without whitespace (``add_whitespace: false``)."""
    return json.dumps(_integral_floats(document), separators=(",", ":"), ensure_ascii=False).encode()


def _integral_floats(value: Any) -> Any:
    # protobuf's C++ printer writes 1.0 as 1; Python's json writes 1.0.
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
            return int(value)
        return value
    if isinstance(value, Mapping):
        return {k: _integral_floats(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_integral_floats(v) for v in value]
    return value


def field_at(message: Message, proto_path: Iterable[str]) -> Any:
    value: Any = message
    for name in proto_path:
        value = getattr(value, name)
    return value
