"""GuardDuty's FindingCriteria language: validated once, evaluated in Python or as SQL, same semantics.

``{"criterion": {"<dotted camelCase path>": {"<operator>": value, ...}, ...}}`` (reference §3b), as it
arrives over HTTP. The attribute keys are not kept here: they are read from botocore's guardduty model
(the CreateFilter/ListFindings ``FindingCriteria`` docs list them, and mark the epoch-ms timestamps), so
a newer botocore brings its new keys along.

Semantics (one set, three evaluators — Python, SQLite, PostgreSQL):

* attributes are ANDed; operators on one attribute are ANDed; ``eq``/``equals`` hold when ANY listed
  value matches, ``neq``/``notEquals`` when NONE does (so a missing field satisfies ``neq``).
* a path through lists looks at every element (PostgreSQL lax jsonpath); a condition holds when ANY
  reached value satisfies it, and ``neq``/``notMatches`` are the negations of that.
* eq values are strings compared by type: a document string equals the value itself; a number equals a
  value written as a JSON number (``"8"`` equals ``8.0``); a boolean equals ``"true"``/``"false"``.
* ``severity`` with an integer value N means the label band [N, N+1): GuardDuty documents Low as
  ``["1","2","3"]``, High as ``["7","8"]`` for severities 1.0–3.9 and 7.0–8.9, which only a band reading
  gives. Other values (``"8.5"``) compare exactly.
* timestamp keys (``updatedAt``, ``service.eventFirstSeen``...: epoch ms in criteria, ISO strings in
  documents): a document string in the codec's form ``YYYY-MM-DDTHH:MM:SS.mmmZ`` compares with the value
  rendered in that form — order-preserving, so no per-row parsing, and the same in SQL and Python.
* numeric operators take integers (the model's integer/long) and only ever match numbers (and the
  timestamps above); a string "22" is not greater than anything.
* ``matches``/``notMatches`` (filters only; wildcard semantics are undocumented by AWS): ``*`` any run,
  ``?`` one character, everything else literal, whole value, case-sensitive, strings only.
* ``service.additionalInfo.<x>`` reads inside the JSON text of ``service.additionalInfo.value`` (as
  GuardDuty's wire form carries it); ``.value`` and ``.type`` are the wrapper's own fields.

SQL: the columns the store indexes are used where they hold the same value as the document (see
``_COLUMNS``). The rest reads the document — PostgreSQL ``jsonb_path_exists(doc, jsonpath, vars)``, with
the path built only from whitelisted keys and every value passed in ``vars`` or as a bind parameter;
SQLite through ``trailhound_criteria(doc, spec)``, a Python function the store installs on each connection
with ``install_sqlite_functions`` — it runs this module's own evaluator, so SQLite cannot drift from Python
(SQLite has no JSON index to lose, and the indexed columns stay plain SQL).
"""

from __future__ import annotations

import functools
import json
import math
import operator
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Table, and_, case, cast, exists, false, func, literal, not_, or_, select, true
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, JSONPATH
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Text

_LIST_OPS = {"eq": "eq", "equals": "eq", "neq": "neq", "notEquals": "neq"}
_NUM_OPS = {"gt": "gt", "greaterThan": "gt", "gte": "gte", "greaterThanOrEqual": "gte",
            "lt": "lt", "lessThan": "lt", "lte": "lte", "lessThanOrEqual": "lte"}
_MATCH_OPS = {"matches": "match", "notMatches": "nomatch"}
_CMP = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}
_JSONPATH_CMP = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_INT64 = 2**63
_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_CANON = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}Z$"
_CANON_RE = re.compile(_CANON)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_MS = int((datetime(1, 1, 1, tzinfo=UTC) - _EPOCH) / timedelta(milliseconds=1))
_MAX_MS = int((datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC) - _EPOCH) / timedelta(milliseconds=1))
_AI = ("service", "additionalInfo")


class CriteriaError(ValueError):
    """A FindingCriteria the API must refuse (BadRequestException); the message is one line."""


@dataclass(frozen=True)
class _Model:
    keys: frozenset[str]
    timestamps: frozenset[str]
    max_values: int
    max_patterns: int
    pattern_len: tuple[int, int]


@functools.cache
def _model() -> _Model:
    import botocore.session

    sm = botocore.session.get_session().get_service_model("guardduty")
    keys: set[str] = set()
    stamps: set[str] = set()
    for op in ("CreateFilter", "ListFindings"):
        doc = sm.operation_model(op).input_shape.members["FindingCriteria"].documentation
        for key, stamp in re.findall(r"<li>\s*<p>([A-Za-z0-9_.]+)</p>(\s*<p>Type: Timestamp)?", doc):
            keys.add(key)
            stamps.update([key] if stamp else [])
    cond = sm.shape_for("Condition")
    max_values = int(re.search(r"Max values: (\d+)", cond.members["Equals"].documentation).group(1))  # type: ignore[union-attr]
    matches = cond.members["Matches"]
    return _Model(frozenset(keys), frozenset(stamps), max_values, matches.metadata["max"],
                  (matches.member.metadata["min"], matches.member.metadata["max"]))


def finding_keys() -> frozenset[str]:
    """Every attribute key FindingCriteria accepts, per botocore's guardduty model."""
    return _model().keys


@dataclass(frozen=True)
class _Value:
    """An eq/neq value in each form a document value may be compared with."""
    s: str
    n: int | float | None  # the value read as a JSON number
    b: bool | None  # "true"/"false"
    t: str | None  # timestamp keys: the value as epoch ms, in the documents' ISO form
    band: int | None  # severity: an integer N means [N, N+1)


@dataclass(frozen=True)
class _Cond:
    key: str
    op: str  # eq neq gt gte lt lte match nomatch
    arg: Any  # tuple[_Value] | int | tuple[str] (wildcard patterns)


@dataclass(frozen=True)
class Criteria:
    """A validated FindingCriteria (``parse``); ``criterion`` is the input, kept for SQLite's spec."""
    conds: tuple[_Cond, ...]
    criterion: dict[str, Any]


def _iso(ms: int) -> str:
    # out-of-range stamps become sentinels below/above every ISO string, so order still holds
    if ms < _MIN_MS:
        return ""
    if ms > _MAX_MS:
        return "~"
    d = _EPOCH + timedelta(milliseconds=ms)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _value(key: str, s: Any) -> _Value:
    if not isinstance(s, str):
        raise CriteriaError(f"{_name(key)}: values must be strings")
    _check_text(key, s)
    n: int | float | None = None
    if _NUMBER.fullmatch(s):
        n = int(s) if s.lstrip("-").isdigit() else float(s)
        if isinstance(n, float) and not math.isfinite(n):
            n = None
    t = None
    if key in _model().timestamps and n is not None and float(n).is_integer() and _MIN_MS <= n <= _MAX_MS:
        t = _iso(int(n))
    band = n if key == "severity" and isinstance(n, int) else None
    return _Value(s, n, {"true": True, "false": False}.get(s), t, band)


def _check_text(key: str, s: str) -> None:
    # PostgreSQL text and jsonb hold neither NUL nor lone surrogates: refuse them here, not as SQL errors
    if "\x00" in s or any(0xD800 <= ord(c) <= 0xDFFF for c in s):
        raise CriteriaError(f"{_name(key)}: values may not contain NUL or unpaired surrogates")


def _name(key: str) -> str:
    return repr(key[:100])  # repr: one line whatever the key holds


def parse(criteria: Any, *, allow_matches: bool = False) -> Criteria:
    """Validate a wire-form FindingCriteria. None or {} is "everything"; errors raise CriteriaError."""
    if isinstance(criteria, Criteria):
        return criteria
    if criteria is None or criteria == {}:
        return Criteria((), {})
    if not isinstance(criteria, dict) or set(criteria) != {"criterion"} or not isinstance(criteria["criterion"], dict):
        raise CriteriaError('FindingCriteria must be {"criterion": {attribute: condition}}')
    criterion, model = criteria["criterion"], _model()
    if not 1 <= len(criterion) <= 50:
        raise CriteriaError(f"FindingCriteria takes 1 to 50 attributes, not {len(criterion)}")
    conds = []
    for key, condition in criterion.items():
        if key not in model.keys:
            raise CriteriaError(f"unknown FindingCriteria attribute {_name(key)}")
        if not isinstance(condition, dict) or not condition:
            raise CriteriaError(f"{_name(key)}: a condition is an object of one or more operators")
        for op, arg in condition.items():
            if op in _LIST_OPS:
                if not isinstance(arg, list) or len(arg) > model.max_values:
                    raise CriteriaError(f"{_name(key)}: {op} takes a list of at most {model.max_values} strings")
                conds.append(_Cond(key, _LIST_OPS[op], tuple(_value(key, v) for v in arg)))
            elif op in _NUM_OPS:
                if type(arg) is not int or not -_INT64 <= arg < _INT64:
                    raise CriteriaError(f"{_name(key)}: {op} takes an integer")
                conds.append(_Cond(key, _NUM_OPS[op], arg))
            elif op in _MATCH_OPS:
                if not allow_matches:
                    raise CriteriaError(f"{_name(key)}: {op} is only accepted by CreateFilter and UpdateFilter")
                lo, hi = model.pattern_len
                if (not isinstance(arg, list) or len(arg) > model.max_patterns
                        or not all(isinstance(p, str) and lo <= len(p) <= hi for p in arg)):
                    raise CriteriaError(f"{_name(key)}: {op} takes at most {model.max_patterns} strings of {lo} to {hi} characters")
                for p in arg:
                    _check_text(key, p)
                conds.append(_Cond(key, _MATCH_OPS[op], tuple(arg)))
            else:
                raise CriteriaError(f"{_name(key)}: unknown operator {_name(str(op))}")
    return Criteria(tuple(conds), criterion)


# ---- Python -----------------------------------------------------------------------------------

def matches(criteria: Any, doc: dict[str, Any]) -> bool:
    """Does a finding (wire-form dict) satisfy the criteria? ``matches``/``notMatches`` allowed (filters)."""
    return all(_holds(c, doc) for c in parse(criteria, allow_matches=True).conds)


def _step(nodes: list[Any], part: str) -> list[Any]:
    # lax jsonpath member access: objects give the member, arrays are unwrapped one level
    out = []
    for node in nodes:
        for item in node if isinstance(node, list) else (node,):
            if isinstance(item, dict) and part in item:
                out.append(item[part])
    return out


def _leaves(doc: Any, key: str) -> list[Any]:
    parts = key.split(".")
    nodes = [doc]
    if tuple(parts[:2]) == _AI and len(parts) > 2 and parts[2] not in ("value", "type"):
        info = doc.get("service", {}).get("additionalInfo") if isinstance(doc, dict) else None
        info = info if isinstance(info, dict) else {}
        if isinstance(info.get("value"), str):
            try:
                info = json.loads(info["value"])
            except ValueError:
                return []
        nodes, parts = [info], parts[2:]
    for part in parts:
        nodes = _step(nodes, part)
    return [x for n in nodes for x in (n if isinstance(n, list) else (n,))]  # the final [*]


def _eq(x: Any, v: _Value) -> bool:
    if isinstance(x, list):  # a nested array: lax comparison unwraps it
        return any(_eq(e, v) for e in x)
    if isinstance(x, str):
        return x == v.s or x == v.t
    if isinstance(x, bool):
        return x is v.b
    if isinstance(x, int | float):
        return v.band <= x < v.band + 1 if v.band is not None else v.n is not None and x == v.n
    return False


def _cmp(x: Any, op: str, n: int, stamp: bool) -> bool:
    if isinstance(x, list):
        return any(_cmp(e, op, n, stamp) for e in x)
    if isinstance(x, int | float) and not isinstance(x, bool):
        return _CMP[op](x, n)
    return stamp and isinstance(x, str) and bool(_CANON_RE.match(x)) and _CMP[op](x, _iso(n))


@functools.lru_cache(maxsize=1024)
def _wildcard(pattern: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.S)


def _holds(c: _Cond, doc: Any) -> bool:
    xs = _leaves(doc, c.key)
    if c.op in ("eq", "neq"):
        return any(_eq(x, v) for x in xs for v in c.arg) == (c.op == "eq")
    if c.op in _CMP:
        return any(_cmp(x, c.op, c.arg, c.key in _model().timestamps) for x in xs)
    hit = any(isinstance(x, str) and _wildcard(p).fullmatch(x) for x in xs for p in c.arg)
    return hit == (c.op == "match")


# ---- SQL --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Column:
    text: str | None = None  # column holding the document's string (eq, matches)
    number: str | None = None  # column holding its number / epoch ms (eq, comparisons)
    boolean: str | None = None  # 0/1 column for a boolean
    resource_type: str | None = None  # the column is exact only for rows of this resource type


_COLUMNS = {
    "id": _Column(text="id"), "type": _Column(text="type"), "accountId": _Column(text="account_id"),
    "region": _Column(text="region"), "resource.resourceType": _Column(text="resource_type"),
    "severity": _Column(number="severity"), "service.archived": _Column(boolean="archived"),
    "updatedAt": _Column(text="updated_at", number="updated_ms"), "createdAt": _Column(text="created_at", number="created_ms"),
    # resource_id is the instance id of an Instance and the key of an AccessKey; an S3Bucket finding also
    # carries accessKeyDetails (the caller's), read from the document
    "resource.instanceDetails.instanceId": _Column(text="resource_id", resource_type="Instance"),
    "resource.accessKeyDetails.accessKeyId": _Column(text="resource_id", resource_type="AccessKey"),
}


def where(criteria: Any, table: Table, dialect_name: str, *, allow_matches: bool = False) -> ColumnElement[bool]:
    """The criteria as a WHERE clause over ``findings`` rows (``dialect_name``: "sqlite" or "postgresql")."""
    crit = parse(criteria, allow_matches=allow_matches)
    by_key: dict[str, list[_Cond]] = {}
    for c in crit.conds:
        by_key.setdefault(c.key, []).append(c)
    column_terms, doc_keys = [], []
    for key, conds in by_key.items():
        col = _COLUMNS.get(key)
        if col is None:
            doc_keys.append(key)
            continue
        exact = and_(*[_column_term(c, col, table, dialect_name) for c in conds])
        if col.resource_type is None:
            column_terms.append(exact)
            continue
        guard = and_(table.c.resource_type.isnot(None), table.c.resource_type == col.resource_type)
        if key.startswith("resource.accessKeyDetails"):
            other = _doc_terms(crit, [key], table, dialect_name)
        else:  # instanceDetails exist only on Instance resources: elsewhere the field is missing
            other = and_(*[true() if c.op in ("neq", "nomatch") else false() for c in conds])
        column_terms.append(or_(and_(guard, exact), and_(not_(guard), other)))
    # columns first: SQLite evaluates AND terms in order, and the document costs a parse per row
    return and_(true(), *column_terms, _doc_terms(crit, doc_keys, table, dialect_name))


def _like(expr: Any, patterns: tuple[str, ...], dialect: str) -> ColumnElement[bool]:
    if dialect == "sqlite":  # GLOB: * and ? as ours; [ opens a class, so it is written [[]
        return or_(false(), *[expr.op("GLOB")(literal(p.replace("[", "[[]"))) for p in patterns])
    esc = [re.sub(r"([\\%_])", r"\\\1", p).replace("*", "%").replace("?", "_") for p in patterns]
    return or_(false(), *[expr.like(literal(p, Text), escape="\\") for p in esc])


def _column_term(c: _Cond, col: _Column, table: Table, dialect: str) -> ColumnElement[bool]:
    text = table.c[col.text] if col.text else None
    if c.op in ("eq", "neq"):
        terms = []
        if text is not None:
            terms.append(text.in_([v.s for v in c.arg]))
        if col.number == "severity":
            num = table.c.severity
            terms += [and_(num >= v.band, num < v.band + 1) if v.band is not None else num == v.n
                      for v in c.arg if v.n is not None]
        elif col.number:
            terms.append(table.c[col.number].in_([int(v.n) for v in c.arg if v.t]))
        if col.boolean:
            terms.append(table.c[col.boolean].in_([int(v.b) for v in c.arg if v.b is not None]))
        hit = or_(false(), *terms)
        if text is not None and text.nullable:
            hit = and_(text.isnot(None), hit)  # two-valued, so that NOT of it is right
        return hit if c.op == "eq" else not_(hit)
    if c.op in _CMP:
        return _CMP[c.op](table.c[col.number], c.arg) if col.number else false()
    if text is None:
        return false() if c.op == "match" else true()
    hit = and_(text.isnot(None), _like(text, c.arg, dialect))
    return hit if c.op == "match" else not_(hit)


def _doc_terms(crit: Criteria, keys: list[str], table: Table, dialect: str) -> ColumnElement[bool]:
    if not keys:
        return true()
    if dialect == "sqlite":
        spec = orjson.dumps({k: crit.criterion[k] for k in keys}).decode()
        return func.trailhound_criteria(table.c.doc, literal(spec, Text)) == 1
    if dialect != "postgresql":
        raise ValueError(f"no FindingCriteria SQL for dialect {dialect!r}")
    return and_(*[_pg_term(c, table) for c in crit.conds if c.key in keys])


def _pg_term(c: _Cond, table: Table) -> ColumnElement[bool]:
    parts = c.key.split(".")
    base: Any = table.c.doc
    if tuple(parts[:2]) == _AI and len(parts) > 2 and parts[2] not in ("value", "type"):
        where_ = literal(["service", "additionalInfo", "value"], ARRAY(Text))
        base = case((func.jsonb_typeof(table.c.doc.op("#>")(where_)) == "string", cast(table.c.doc.op("#>>")(where_), JSONB)),
                    else_=table.c.doc.op("#>")(literal(["service", "additionalInfo"], ARRAY(Text))))
        parts = parts[2:]
    path = "$" + "".join(f'."{p}"' for p in parts) + "[*]"  # parts are whitelisted [A-Za-z0-9_]
    variables: dict[str, Any] = {}
    if c.op in ("eq", "neq"):
        terms = []
        for i, v in enumerate(c.arg):
            for name, val in (("s", v.s), ("n", v.n), ("b", v.b), ("t", v.t)):
                if val is not None:
                    variables[f"{name}{i}"] = val
                    terms.append(f"@ == ${name}{i}")
        if not terms:
            return false() if c.op == "eq" else true()
        hit = _path_exists(base, f"{path} ? ({' || '.join(terms)})", variables)
    elif c.op in _CMP:
        sign, variables = _JSONPATH_CMP[c.op], {"n": c.arg, "t": _iso(c.arg)}
        stamp = f' || (@ like_regex "{_CANON}" && @ {sign} $t)' if c.key in _model().timestamps else ""
        return _path_exists(base, f"{path} ? (@ {sign} $n{stamp})", variables)
    else:
        item = func.jsonb_path_query(base, cast(literal(path + ' ? (@.type() == "string")', Text), JSONPATH)).column_valued("v")
        hit = exists(select(1).where(_like(item.op("#>>")(literal([], ARRAY(Text))), c.arg, "postgresql")))
    return hit if c.op in ("eq", "match") else not_(hit)


def _path_exists(base: Any, path: str, variables: dict[str, Any]) -> ColumnElement[bool]:
    return func.coalesce(func.jsonb_path_exists(base, cast(literal(path, Text), JSONPATH),
                                                cast(literal(json.dumps(variables), Text), JSONB)), False)


@functools.lru_cache(maxsize=256)
def _spec(spec: str) -> Criteria:
    return parse({"criterion": orjson.loads(spec)}, allow_matches=True)


def _sqlite_criteria(doc: str | bytes | None, spec: str) -> int:
    if doc is None:
        return 0
    finding = orjson.loads(doc)
    return int(all(_holds(c, finding) for c in _spec(spec).conds))


def install_sqlite_functions(dbapi_connection: Any) -> None:
    """Register ``trailhound_criteria`` on a sqlite3 connection (call it from the engine's "connect" event)."""
    dbapi_connection.create_function("trailhound_criteria", 2, _sqlite_criteria, deterministic=True)


# ---- sorting ----------------------------------------------------------------------------------

_SORT_COLUMNS = {"id": "id", "type": "type", "accountId": "account_id", "region": "region", "severity": "severity",
                 "resource.resourceType": "resource_type", "service.archived": "archived",
                 "updatedAt": "updated_ms", "createdAt": "created_ms"}


class _doc_field(FunctionElement[Any]):
    """A document field as a sort key (NULL when missing, null, or behind a list), per dialect."""
    name = "doc_field"
    inherit_cache = True


@compiles(_doc_field, "sqlite")
def _doc_field_sqlite(element: _doc_field, compiler: Any, **kw: Any) -> str:
    doc, key = element.clauses
    return f"json_extract({compiler.process(doc, **kw)}, '$.' || {compiler.process(key, **kw)})"


@compiles(_doc_field, "postgresql")
def _doc_field_pg(element: _doc_field, compiler: Any, **kw: Any) -> str:
    doc, key = element.clauses
    return f"NULLIF({compiler.process(doc, **kw)} #> string_to_array({compiler.process(key, **kw)}, '.'), 'null'::jsonb)"


def order_by(sort_criteria: Any, table: Table) -> list[ColumnElement[Any]]:
    """ORDER BY terms for a SortCriteria ``{"attributeName", "orderBy": "ASC"|"DESC"}`` (None: by id).
    Missing values sort last either way; ``id`` in the same direction breaks ties, so pages are stable."""
    if not sort_criteria:
        return [table.c.id.asc()]
    if not isinstance(sort_criteria, dict) or not set(sort_criteria) <= {"attributeName", "orderBy"}:
        raise CriteriaError('SortCriteria must be {"attributeName": ..., "orderBy": "ASC"|"DESC"}')
    key, direction = sort_criteria.get("attributeName"), sort_criteria.get("orderBy", "ASC")
    if direction not in ("ASC", "DESC"):
        raise CriteriaError(f"SortCriteria orderBy must be ASC or DESC, not {_name(str(direction))}")
    if key is None:
        return [table.c.id.asc() if direction == "ASC" else table.c.id.desc()]
    if not isinstance(key, str) or key not in _model().keys:
        raise CriteriaError(f"unknown SortCriteria attribute {_name(str(key))}")
    expr = table.c[_SORT_COLUMNS[key]] if key in _SORT_COLUMNS else _doc_field(table.c.doc, literal(key, Text))
    if key in _SORT_COLUMNS and not table.c[_SORT_COLUMNS[key]].nullable:
        # no NULLS LAST on a NOT NULL column: PostgreSQL would not match it to a btree scanned backwards
        # (DESC is NULLS FIRST there), so it would sort every matching row instead of reading an index in order
        return [expr.asc(), table.c.id.asc()] if direction == "ASC" else [expr.desc(), table.c.id.desc()]
    if direction == "ASC":
        return [expr.asc().nulls_last(), table.c.id.asc()]
    return [expr.desc().nulls_last(), table.c.id.desc()]
