"""The REST surface as the descriptor set defines it.

The gateway reads ``gen/ccplane.binpb`` (the same file Envoy's transcoder
reads) into its own descriptor pool and turns every ``google.api.http`` rule
of every service, additional bindings included, into an :class:`HttpBinding`.
Nothing here names a route by hand: a new annotated RPC is served, documented
and matched as soon as the descriptor set has it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from google.api import annotations_pb2, field_behavior_pb2, http_pb2
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message

from gateway.template import PathTemplate, parse_template, split_request_path

DESCRIPTOR_SET_ENV = "CCPLANE_DESCRIPTOR_SET"


def default_descriptor_set() -> Path:
    """``$CCPLANE_DESCRIPTOR_SET``, else ``ccplane.binpb`` next to the generated package."""
    configured = os.environ.get(DESCRIPTOR_SET_ENV, "").strip()
    if configured:
        return Path(configured)
    import ccplane

    return Path(next(iter(ccplane.__path__))).parent / "ccplane.binpb"


@dataclass(frozen=True)
class HttpBinding:
    """One HTTP verb + path template mapped to one RPC."""

    service: str  # full name, e.g. "ccplane.v1.RunService"
    method: MethodDescriptor
    http_method: str  # "GET", "POST", ...
    template: PathTemplate
    body: str  # "" (no body), "*" or a field path
    response_body: str
    index: int  # 0 for the primary rule, 1.. for additional bindings

    @property
    def rpc_path(self) -> str:
        return f"/{self.service}/{self.method.name}"

    @property
    def operation_id(self) -> str:
        base = f"{self.service.rsplit('.', 1)[-1]}_{self.method.name}"
        return base if self.index == 0 else f"{base}_{self.index + 1}"

    @property
    def server_streaming(self) -> bool:
        return bool(self.method.server_streaming)

    @property
    def route(self) -> str:
        """A low-cardinality label for metrics and logs."""
        return self.template.source


@dataclass(frozen=True)
class RouteMatch:
    binding: HttpBinding
    path_values: dict[str, str]


@dataclass
class Contract:
    """The descriptor pool and the HTTP bindings derived from it."""

    pool: descriptor_pool.DescriptorPool
    files: Sequence[descriptor_pb2.FileDescriptorProto]
    bindings: list[HttpBinding]
    comments: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None) -> Contract:
        data = (path or default_descriptor_set()).read_bytes()
        return cls.from_descriptor_set(descriptor_pb2.FileDescriptorSet.FromString(data))

    @classmethod
    def from_descriptor_set(cls, fds: descriptor_pb2.FileDescriptorSet) -> Contract:
        pool = descriptor_pool.DescriptorPool()
        for file in fds.file:  # protoc writes dependencies first
            pool.Add(file)
        bindings: list[HttpBinding] = []
        comments: dict[str, str] = {}
        for file in fds.file:
            comments.update(_leading_comments(file))
            for service in file.service:
                full_service = f"{file.package}.{service.name}" if file.package else service.name
                for method in service.method:
                    if not method.options.HasExtension(annotations_pb2.http):
                        continue
                    rule = method.options.Extensions[annotations_pb2.http]
                    descriptor = pool.FindMethodByName(f"{full_service}.{method.name}")
                    if method.client_streaming:
                        continue  # a REST request carries one message
                    for index, binding in enumerate([rule, *rule.additional_bindings]):
                        bindings.append(_binding(full_service, descriptor, binding, index))
        return cls(pool, list(fds.file), bindings, comments)

    @cached_property
    def services(self) -> list[str]:
        """Full names of the services with at least one HTTP rule, in file order."""
        seen: dict[str, None] = {}
        for b in self.bindings:
            seen.setdefault(b.service, None)
        return list(seen)

    def message_class(self, descriptor: Descriptor) -> type[Message]:
        return message_factory.GetMessageClass(descriptor)

    def lookup(self, http_method: str, raw_path: str) -> tuple[RouteMatch | None, list[str]]:
        """The binding for a request, or (None, allowed methods of the path).

        An empty list of allowed methods means the path is unknown (404); a
        non-empty one that the path is known under other methods (405).
        """
        candidates: list[tuple[tuple[int, ...], RouteMatch]] = []
        allowed: dict[str, None] = {}
        for parts, verb in split_request_path(raw_path):
            for binding in self.bindings:
                values = binding.template.match(parts, verb)
                if values is None:
                    continue
                allowed.setdefault(binding.http_method, None)
                if binding.http_method == http_method:
                    candidates.append((binding.template.specificity, RouteMatch(binding, values)))
            if candidates:
                break
        if candidates:
            return min(candidates, key=lambda c: c[0])[1], []
        return None, list(allowed)

    def comment(self, full_name: str) -> str:
        return self.comments.get(full_name, "")


def _binding(service: str, method: MethodDescriptor, rule: http_pb2.HttpRule, index: int) -> HttpBinding:
    kind = rule.WhichOneof("pattern")
    if kind is None:
        raise ValueError(f"{service}.{method.name}: HTTP rule without a pattern")
    if kind == "custom":
        http_method, path = rule.custom.kind.upper(), rule.custom.path
    else:
        http_method, path = kind.upper(), getattr(rule, kind)
    return HttpBinding(
        service=service,
        method=method,
        http_method=http_method,
        template=parse_template(path),
        body=rule.body,
        response_body=rule.response_body,
        index=index,
    )


def field_behaviors(fd: FieldDescriptor) -> set[int]:
    """The ``google.api.field_behavior`` values of a field."""
    return set(fd.GetOptions().Extensions[field_behavior_pb2.field_behavior])


def is_required(fd: FieldDescriptor) -> bool:
    return field_behavior_pb2.REQUIRED in field_behaviors(fd)


def is_output_only(fd: FieldDescriptor) -> bool:
    return field_behavior_pb2.OUTPUT_ONLY in field_behaviors(fd)


# -- source comments ----------------------------------------------------------------

# Field numbers in descriptor.proto that lead to named elements.
_FILE_MESSAGE, _FILE_ENUM, _FILE_SERVICE = 4, 5, 6
_MSG_FIELD, _MSG_NESTED, _MSG_ENUM = 2, 3, 4
_ENUM_VALUE, _SERVICE_METHOD = 2, 2


def _leading_comments(file: descriptor_pb2.FileDescriptorProto) -> dict[str, str]:
    by_path = {
        tuple(loc.path): loc.leading_comments.strip()
        for loc in file.source_code_info.location
        if loc.leading_comments.strip()
    }
    if not by_path:
        return {}
    prefix = f"{file.package}." if file.package else ""
    out: dict[str, str] = {}
    for name, path in _named_paths(file, prefix):
        text = by_path.get(path)
        lines = [line.strip() for line in (text or "").splitlines()]
        # Linter directives are for buf, not for readers.
        lines = [line for line in lines if not line.startswith("buf:lint:")]
        if any(lines):
            out[name] = "\n".join(lines).strip()
    return out


def _named_paths(
    file: descriptor_pb2.FileDescriptorProto, prefix: str
) -> Iterator[tuple[str, tuple[int, ...]]]:
    for i, msg in enumerate(file.message_type):
        yield from _message_paths(msg, prefix, (_FILE_MESSAGE, i))
    for i, enum in enumerate(file.enum_type):
        yield from _enum_paths(enum, prefix, (_FILE_ENUM, i))
    for i, svc in enumerate(file.service):
        yield prefix + svc.name, (_FILE_SERVICE, i)
        for j, method in enumerate(svc.method):
            yield f"{prefix}{svc.name}.{method.name}", (_FILE_SERVICE, i, _SERVICE_METHOD, j)


def _message_paths(
    msg: descriptor_pb2.DescriptorProto, prefix: str, path: tuple[int, ...]
) -> Iterator[tuple[str, tuple[int, ...]]]:
    name = prefix + msg.name
    yield name, path
    for i, fd in enumerate(msg.field):
        yield f"{name}.{fd.name}", (*path, _MSG_FIELD, i)
    for i, nested in enumerate(msg.nested_type):
        yield from _message_paths(nested, name + ".", (*path, _MSG_NESTED, i))
    for i, enum in enumerate(msg.enum_type):
        yield from _enum_paths(enum, name + ".", (*path, _MSG_ENUM, i))


def _enum_paths(
    enum: descriptor_pb2.EnumDescriptorProto, prefix: str, path: tuple[int, ...]
) -> Iterator[tuple[str, tuple[int, ...]]]:
    yield prefix + enum.name, path
    for i, value in enumerate(enum.value):
        yield f"{prefix}{enum.name}.{value.name}", (*path, _ENUM_VALUE, i)
