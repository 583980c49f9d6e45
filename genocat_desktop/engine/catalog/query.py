"""Metadata filters: structured conditions turned into safe Lance SQL.

The GUI's filter rows and the CLI's ``--where "organism contains coli"``
both become :class:`Condition` objects. Field names are checked against the
catalog's schema and quoted with backticks; values are converted to the
field's type and escaped. No user text ever reaches Lance as SQL, so a
filter can be wrong but never an injection.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import pyarrow as pa

from genocat_desktop.engine.core.errors import FilterError

__all__ = ["OPERATORS", "Condition", "parse_condition", "to_sql"]

#: Operator → SQL template; ``{f}`` is the quoted field, ``{v}`` the literal.
OPERATORS: Final[dict[str, str]] = {
    "=": "{f} = {v}",
    "!=": "{f} != {v}",
    "<": "{f} < {v}",
    "<=": "{f} <= {v}",
    ">": "{f} > {v}",
    ">=": "{f} >= {v}",
    "contains": "lower({f}) LIKE {v} ESCAPE '\\'",
    "starts with": "lower({f}) LIKE {v} ESCAPE '\\'",
    "in": "{f} IN ({v})",
    "is empty": "{f} IS NULL",
    "is not empty": "{f} IS NOT NULL",
}
_UNARY: Final = frozenset({"is empty", "is not empty"})
_TEXT_ONLY: Final = frozenset({"contains", "starts with"})


@dataclass(frozen=True, slots=True)
class Condition:
    """``field op value``, e.g. ``Condition("length", ">", 300)``."""

    field: str
    op: str
    value: Any = None

    def __str__(self) -> str:
        return f"{self.field} {self.op}" if self.op in _UNARY else f"{self.field} {self.op} {self.value}"


_PARSE = re.compile(
    r"^\s*(?P<field>`[^`]+`|[A-Za-z_][\w ]*?)\s*"
    r"(?P<op>!=|<=|>=|=|<|>|\bcontains\b|\bstarts with\b|\bin\b|\bis not empty\b|\bis empty\b)"
    r"\s*(?P<value>.*?)\s*$",
    re.IGNORECASE,
)


def parse_condition(text: str) -> Condition:
    """Parse ``"field OP value"`` as typed on the command line.

    Examples: ``"length > 300"``, ``"organism contains coli"``,
    ``"taxid in 9606, 10090"``, ``"gene is empty"``, ```"`my field` = x"```.

    Raises
    ------
    FilterError
        If the text is not of that form.
    """
    m = _PARSE.match(text)
    if not m:
        raise FilterError(
            f"cannot read the filter {text!r}; write 'FIELD OP VALUE' with OP one of: " + ", ".join(OPERATORS)
        )
    field = m.group("field").strip().strip("`")
    op = m.group("op").lower()
    value: Any = m.group("value")
    if op in _UNARY:
        if value:
            raise FilterError(f"{op!r} takes no value (in {text!r})")
        value = None
    elif value == "":
        raise FilterError(f"the filter {text!r} has no value after {op!r}")
    elif len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    elif op == "in":
        value = [v.strip().strip("'\"") for v in value.split(",") if v.strip()]
    return Condition(field, op, value)


def _literal(value: Any, dtype: pa.DataType, field: str) -> str:
    try:
        if pa.types.is_integer(dtype):
            return str(int(str(value).replace(",", "").replace("_", "")))
        if pa.types.is_floating(dtype):
            return repr(float(value))
        if pa.types.is_boolean(dtype):
            text = str(value).strip().lower()
            if text in ("true", "yes", "1"):
                return "true"
            if text in ("false", "no", "0"):
                return "false"
            raise ValueError(value)
        if pa.types.is_timestamp(dtype) or pa.types.is_date(dtype):
            when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
            return f"timestamp '{when.strftime('%Y-%m-%d %H:%M:%S')}'"
    except (TypeError, ValueError):
        raise FilterError(f"{value!r} is not a valid value for {field!r} ({_kind(dtype)})") from None
    return "'" + str(value).replace("'", "''") + "'"


def _kind(dtype: pa.DataType) -> str:
    if pa.types.is_integer(dtype):
        return "a whole number"
    if pa.types.is_floating(dtype):
        return "a number"
    if pa.types.is_boolean(dtype):
        return "yes/no"
    if pa.types.is_timestamp(dtype) or pa.types.is_date(dtype):
        return "a date"
    return "text"


def _like(value: Any, prefix_only: bool) -> str:
    text = str(value).lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").replace("'", "''")
    return f"'{text}%'" if prefix_only else f"'%{text}%'"


def to_sql(conditions: Sequence[Condition], schema: pa.Schema) -> str | None:
    """Turn conditions (all must hold) into a Lance SQL predicate.

    Returns ``None`` when there is no condition.

    Raises
    ------
    FilterError
        On an unknown field, an unknown operator, an operator that does not
        fit the field's type, or a value of the wrong type.
    """
    parts = []
    for c in conditions:
        if c.field not in schema.names:
            raise FilterError(f"no field named {c.field!r}; fields: {', '.join(schema.names)}")
        dtype = schema.field(c.field).type
        if pa.types.is_fixed_size_list(dtype):
            raise FilterError(f"{c.field!r} holds vectors and cannot be filtered")
        op = c.op.lower()
        if op not in OPERATORS:
            raise FilterError(f"unknown operator {c.op!r}; use one of: {', '.join(OPERATORS)}")
        quoted = "`" + c.field + "`"
        is_list = pa.types.is_list(dtype) or pa.types.is_large_list(dtype)
        if is_list and op not in ("contains", "is empty", "is not empty"):
            raise FilterError(f"{c.field!r} is a list; use 'contains', 'is empty' or 'is not empty'")
        if op in _UNARY:
            parts.append(OPERATORS[op].format(f=quoted, v=""))
        elif is_list:
            parts.append(f"array_has({quoted}, {_literal(c.value, pa.string(), c.field)})")
        elif op in _TEXT_ONLY:
            if not (pa.types.is_string(dtype) or pa.types.is_large_string(dtype)):
                raise FilterError(f"{op!r} works on text fields; {c.field!r} is {_kind(dtype)}")
            parts.append(OPERATORS[op].format(f=quoted, v=_like(c.value, op == "starts with")))
        elif op == "in":
            values = c.value if isinstance(c.value, (list, tuple)) else [c.value]
            if not values:
                raise FilterError(f"'in' needs at least one value for {c.field!r}")
            parts.append(OPERATORS[op].format(f=quoted, v=", ".join(_literal(v, dtype, c.field) for v in values)))
        else:
            parts.append(OPERATORS[op].format(f=quoted, v=_literal(c.value, dtype, c.field)))
    if not parts:
        return None
    return " AND ".join(f"({p})" for p in parts)
