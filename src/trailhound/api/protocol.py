"""GuardDuty's REST-JSON protocol, derived from botocore's service model (the contract), not kept by hand.

The model gives each operation's method and path template, where each input member travels (path,
query string, body) and its wire name, and every shape's constraints. ``Protocol.route`` finds the
operation of a request; ``Protocol.parse`` turns the request into the operation's input — top-level
members by their model names (``DetectorId``, ``FindingCriteria``), values in the wire form they
arrived in (camelCase inside) — after checking it against the model with botocore's own validator,
so a request boto3 would refuse to send is refused here the same way (BadRequestException).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

import orjson
from botocore.model import OperationModel, Shape, StructureShape
from botocore.session import get_session
from botocore.validate import ParamValidator


class ApiError(Exception):
    """An error as GuardDuty returns it: HTTP status, ``x-amzn-ErrorType`` and ``{"message", "__type"}``."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def bad_request(message: str) -> ApiError:
    return ApiError("BadRequestException", message, 400)


def not_found(message: str) -> ApiError:
    return ApiError("ResourceNotFoundException", message, 404)


def denied(message: str) -> ApiError:
    return ApiError("AccessDeniedException", message, 403)


@dataclass(frozen=True)
class Route:
    operation: OperationModel
    method: str
    pattern: re.Pattern[str]  # over the raw (still percent-encoded) path
    params: tuple[str, ...]  # the path members, in template order
    literal: int  # literal characters in the template: the more specific route wins


class Protocol:
    def __init__(self) -> None:
        self.model = get_session().get_service_model("guardduty")
        routes = [_route(self.model.operation_model(name)) for name in self.model.operation_names]
        self.routes = sorted(routes, key=lambda r: -r.literal)
        self._validator = ParamValidator()

    def route(self, method: str, raw_path: str) -> tuple[OperationModel, dict[str, str]]:
        path_ok = False
        for r in self.routes:
            m = r.pattern.fullmatch(raw_path)
            if m is None:
                continue
            path_ok = True
            if r.method == method:
                return r.operation, {name: unquote(value) for name, value in zip(r.params, m.groups())}
        raise ApiError("BadRequestException" if path_ok else "ResourceNotFoundException",
                       f"no GuardDuty operation at {method} {raw_path[:200]}", 405 if path_ok else 404)

    def parse(self, op: OperationModel, path_params: dict[str, str], raw_query: str, body: bytes) -> dict[str, Any]:
        shape = op.input_shape
        if shape is None:
            return {}
        query: dict[str, list[str]] = {}
        for key, value in parse_qsl(raw_query, keep_blank_values=True):
            query.setdefault(key, []).append(value)
        try:
            document = orjson.loads(body) if body.strip() else {}
        except orjson.JSONDecodeError as exc:
            raise bad_request(f"the request body is not JSON: {exc}") from None
        if not isinstance(document, dict):
            raise bad_request("the request body must be a JSON object")
        wire: dict[str, Any] = {}
        for name, member in shape.members.items():
            where = member.serialization.get("location")
            key = member.serialization.get("name", name)
            if where == "uri":
                if name in path_params:
                    wire[name] = path_params[name]
            elif where == "querystring":
                if key in query:
                    values = query[key]
                    wire[name] = values if member.type_name == "list" else _scalar(member, values[-1], key)
            elif where == "header":
                continue
            elif key in document:
                wire[name] = document[key]
        self._validate(shape, wire)
        return wire

    def check(self, op: OperationModel, wire: dict[str, Any]) -> None:
        """Check an operation's input given as ``parse`` returns it (the console's calls come this way)."""
        if op.input_shape is not None:
            self._validate(op.input_shape, wire)

    def _validate(self, shape: StructureShape, wire: dict[str, Any]) -> None:
        params = _from_wire(shape, wire, top=True)
        report = self._validator.validate(params, shape)
        if report.has_errors():
            problems = report.generate_report().splitlines()[1:] or ["invalid input"]
            raise bad_request("; ".join(p.strip() for p in problems)[:1000])
        if problem := _over_max(shape, params, ""):  # botocore checks minimums only: the server checks the rest
            raise bad_request(problem)

    def output(self, op: OperationModel, result: dict[str, Any]) -> dict[str, Any]:
        """The handler's result (top-level by model member name or already by wire name) under wire names."""
        shape = op.output_shape
        if shape is None:
            return {}
        names = {name: member.serialization.get("name", name) for name, member in shape.members.items()}
        return {names.get(k, k): v for k, v in result.items() if v is not None}


def _route(op: OperationModel) -> Route:
    template = op.http["requestUri"].split("?", 1)[0]
    params: list[str] = []
    pattern = ""
    literal = 0
    for part in re.split(r"(\{[^}]+\})", template):
        if part.startswith("{"):
            params.append(part.strip("{}+"))
            pattern += "([^/]+)"
        else:
            pattern += re.escape(part)
            literal += len(part)
    return Route(op, op.http["method"], re.compile(pattern + "/?"), tuple(params), literal)


def _scalar(member: Shape, value: str, key: str) -> Any:
    if member.type_name in ("integer", "long"):
        try:
            return int(value)
        except ValueError:
            raise bad_request(f"query parameter {key}: not an integer: {value[:50]!r}") from None
    if member.type_name == "boolean":
        return value.lower() == "true"
    return value


def _from_wire(shape: Shape, value: Any, top: bool = False) -> Any:
    """A wire value in botocore's parameter form (model member names), for the model's validator."""
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        out = {}
        by_wire = _wire_names(shape)
        for key, v in value.items():
            name = key if top else by_wire.get(key)
            if name is None:
                continue  # an unknown member: GuardDuty ignores what it does not model
            out[name] = _from_wire(shape.members[name], v)
        return out
    if shape.type_name == "list" and isinstance(value, list):
        return [_from_wire(shape.member, v) for v in value]  # type: ignore[attr-defined]
    if shape.type_name == "map" and isinstance(value, dict):
        return {k: _from_wire(shape.value, v) for k, v in value.items()}  # type: ignore[attr-defined]
    return value


def _over_max(shape: Shape, value: Any, where: str) -> str | None:
    limit = shape.metadata.get("max")
    if limit is not None:
        if shape.type_name in ("integer", "long") and isinstance(value, int) and value > limit:
            return f"{where or 'input'}: {value} is over the maximum {limit}"
        if shape.type_name in ("string", "list", "map") and isinstance(value, str | list | dict) and len(value) > limit:
            return f"{where or 'input'}: length {len(value)} is over the maximum {limit}"
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        for name, v in value.items():
            if name in shape.members and (problem := _over_max(shape.members[name], v, f"{where}.{name}".strip("."))):
                return problem
    elif shape.type_name == "list" and isinstance(value, list):
        for i, v in enumerate(value):
            if problem := _over_max(shape.member, v, f"{where}[{i}]"):  # type: ignore[attr-defined]
                return problem
    elif shape.type_name == "map" and isinstance(value, dict):
        for k, v in value.items():
            if problem := _over_max(shape.value, v, f"{where}.{k}"):  # type: ignore[attr-defined]
                return problem
    return None


@functools.cache
def _wire_names(shape: StructureShape) -> dict[str, str]:
    return {member.serialization.get("name", name): name for name, member in shape.members.items()}
