"""Metadata filters: structured conditions turned into safe Lance SQL.

The GUI's filter rows and the CLI's ``--where "organism contains coli"``
both become :class:`Condition` objects. Field names are checked against the
catalog's schema and quoted with backticks; values are converted to the
field's type and escaped. No user text ever reaches Lance as SQL, so a
filter can be wrong but never an injection.

How a value is written (the CLI's ``--where`` and the GUI's filter rows
read it the same way, :func:`parse_filter_value`):

* A value is taken as typed, spaces around it trimmed: ``organism = Homo sapiens``.
* It may be quoted with ``'`` or ``"``: ``organism = 'Homo sapiens'``. Inside
  quotes the quote character is written twice: ``name = 'O''Brien'``. A quoted
  value must be the whole value: ``organism = 'a', 'b'`` is an error (use ``in``).
* ``in`` takes a list: values separated by commas, each bare or quoted,
  ``taxid in 9606, 10090`` or ``organism in 'Homo sapiens', "Mus musculus"``.
  Only a quoted value may hold a comma; a bare value may hold no quote; an
  empty value (``a,,b``) is an error; a list of one quoted value holding a
  comma (``taxid in '9606,10090'``) is an error, as it reads as a list that
  was quoted by mistake.
* Whole numbers take ``,`` or ``_`` as thousands separators in a single value
  (``length > 1,000``), never in a list, where a comma always separates values.
  A number outside the field's range, and ``nan``/``inf`` (or a number too large
  to be finite, ``1e400``), is an error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final

import pyarrow as pa

from genocat_desktop.engine.core.errors import FilterError

__all__ = ["OPERATORS", "Condition", "parse_condition", "parse_filter_value", "split_in_list", "to_sql"]

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
_QUOTES: Final = "'\""


@dataclass(frozen=True, slots=True)
class Condition:
    """``field op value``, e.g. ``Condition("length", ">", 300)``.

    For ``in`` the value is a list, or a text that :func:`split_in_list` reads.
    """

    field: str
    op: str
    value: Any = None

    def __str__(self) -> str:
        if self.op in _UNARY:
            return f"{self.field} {self.op}"
        if isinstance(self.value, (list, tuple)):
            return f"{self.field} {self.op} {', '.join(map(_quoted_for_display, self.value))}"
        return f"{self.field} {self.op} {self.value}"


def _quoted_for_display(value: Any) -> str:
    text = str(value)
    if any(c in text for c in ",'\"") or text != text.strip():
        return "'" + text.replace("'", "''") + "'"
    return text


_PARSE = re.compile(
    r"^\s*(?P<field>`[^`]+`|[A-Za-z_][\w ]*?)\s*"
    r"(?P<op>!=|<=|>=|=|<|>|\bcontains\b|\bstarts with\b|\bin\b|\bis not empty\b|\bis empty\b)"
    r"\s*(?P<value>.*?)\s*$",
    re.IGNORECASE | re.DOTALL,
)


def parse_condition(text: str) -> Condition:
    """Parse ``"field OP value"`` as typed on the command line.

    Examples: ``"length > 300"``, ``"organism contains coli"``,
    ``"taxid in 9606, 10090"``, ``"organism in 'Homo sapiens', 'Mus musculus'"``,
    ``"gene is empty"``, ```"`my field` = x"```. Values are read by :func:`parse_filter_value`.

    Raises
    ------
    FilterError
        If the text is not of that form, or its value is not written as the
        module's docstring describes.
    """
    m = _PARSE.match(text)
    if not m:
        raise FilterError(
            f"cannot read the filter {text!r}; write 'FIELD OP VALUE' with OP one of: " + ", ".join(OPERATORS)
        )
    field = m.group("field").strip().strip("`")
    op = m.group("op").lower()
    value = m.group("value")
    if op in _UNARY and value:
        raise FilterError(f"{op!r} takes no value (in {text!r})")
    if op not in _UNARY and value == "":
        raise FilterError(f"the filter {text!r} has no value after {op!r}")
    return Condition(field, op, parse_filter_value(op, value, field))


def parse_filter_value(op: str, text: str, field: str = "FIELD") -> str | list[str] | None:
    """The value of a filter as typed (CLI or GUI): ``None`` for a unary operator, a list for ``in``, else a text.

    Raises
    ------
    FilterError
        An unterminated quote, text after a quoted value, or an ``in`` list
        that cannot be read unambiguously (see the module's docstring).
    """
    op = op.lower()
    if op in _UNARY:
        return None
    if op == "in":
        return split_in_list(text, field)
    text = text.strip()
    if text[:1] in _QUOTES:
        value, end = _read_quoted(text, 0)
        if text[end:].strip():
            raise FilterError(f"unexpected {text[end:].strip()!r} after the quoted value {text[:end]}; "
                              f"for several values use 'in': {field} in 'a', 'b'")
        return value
    return text


def split_in_list(text: str, field: str = "FIELD") -> list[str]:
    """The values of an ``in`` list: comma-separated, each bare or quoted with ``'`` or ``"``.

    ``"9606, 10090"`` → ``["9606", "10090"]``; ``"'Homo sapiens', 'a, b'"`` →
    ``["Homo sapiens", "a, b"]``; inside quotes a doubled quote stands for one.

    ``field`` names the field in the messages.

    Raises
    ------
    FilterError
        No value, an empty value, an unterminated quote, a quote inside a bare
        value, text after a quoted value, or one quoted value holding commas.
    """
    values: list[str] = []
    quoted_with_comma = False
    pos, n = 0, len(text)
    while True:
        while pos < n and text[pos].isspace():
            pos += 1
        if pos < n and text[pos] in _QUOTES:
            value, pos = _read_quoted(text, pos)
            quoted_with_comma = quoted_with_comma or "," in value
            while pos < n and text[pos].isspace():
                pos += 1
            if pos < n and text[pos] != ",":
                raise FilterError(f"unexpected {text[pos:]!r} after the quoted value {value!r} in the list "
                                  f"{text!r}; separate values with commas")
        else:
            end = text.find(",", pos)
            end = n if end < 0 else end
            value = text[pos:end].strip()
            if not value:
                raise FilterError(f"the list {text!r} has an empty value; separate values with single commas")
            if any(q in value for q in _QUOTES):
                raise FilterError(f"a quote inside the value {value!r} of the list {text!r}; quote whole "
                                  "values ('a', 'b') and write a quote inside them twice ('O''Brien')")
            pos = end
        values.append(value)
        if pos >= n:
            break
        pos += 1  # the comma
    if len(values) == 1 and quoted_with_comma:
        raise FilterError(f"{text.strip()} is one quoted value holding commas; for a list quote each value "
                          f"or none: {field} in {', '.join(v.strip() for v in values[0].split(','))}")
    return values


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """The quoted value starting at ``text[start]`` (a quote) and the index after its closing quote."""
    quote = text[start]
    out: list[str] = []
    pos = start + 1
    while True:
        end = text.find(quote, pos)
        if end < 0:
            raise FilterError(f"the quote {quote} opened in {text[start:]!r} is never closed")
        out.append(text[pos:end])
        if text[end + 1:end + 2] == quote:  # a doubled quote stands for one
            out.append(quote)
            pos = end + 2
            continue
        return "".join(out), end + 1


def _integer(value: Any, dtype: pa.DataType, field: str, in_list: bool) -> str:
    if isinstance(value, (bool, float)):
        raise ValueError(value)
    text = str(value).strip()
    if not in_list:
        text = text.replace(",", "")  # thousands separators, in a single value only
    number = int(text)
    bits = dtype.bit_width
    if pa.types.is_signed_integer(dtype):
        # Lance reads -2**63 as a float (the minus is applied after the literal), so one less.
        lo, hi = -(2 ** (bits - 1)) + 1, 2 ** (bits - 1) - 1
    else:
        lo, hi = 0, min(2**bits, 2**63) - 1
    if not lo <= number <= hi:
        raise FilterError(f"{text} is out of range for {field!r} (a whole number from {lo:,} to {hi:,})")
    return str(number)


def _float(value: Any, field: str) -> str:
    number = float(str(value).strip()) if not isinstance(value, (int, float)) else float(value)
    if not math.isfinite(number):
        raise FilterError(f"{value!r} is not a valid value for {field!r}: give a finite number "
                          "(at most about 1.8e308 either side of zero)")
    return repr(number)


def _date(value: Any, dtype: pa.DataType) -> str:
    when = value if isinstance(value, (datetime, date)) else datetime.fromisoformat(str(value).strip())
    if pa.types.is_date(dtype):
        day = when.date() if isinstance(when, datetime) else when
        return f"date '{day.year:04d}-{day.month:02d}-{day.day:02d}'"
    if not isinstance(when, datetime):
        when = datetime(when.year, when.month, when.day)
    if when.tzinfo is not None:  # stored times are UTC
        when = when.astimezone(UTC).replace(tzinfo=None)
    # Four-digit years always: strftime writes year 5 as "5", which Lance cannot read.
    return (f"timestamp '{when.year:04d}-{when.month:02d}-{when.day:02d} "
            f"{when.hour:02d}:{when.minute:02d}:{when.second:02d}'")


def _literal(value: Any, dtype: pa.DataType, field: str, *, in_list: bool = False) -> str:
    try:
        if pa.types.is_integer(dtype):
            return _integer(value, dtype, field, in_list)
        if pa.types.is_floating(dtype):
            return _float(value, field)
        if pa.types.is_boolean(dtype):
            text = str(value).strip().lower()
            if text in ("true", "yes", "1"):
                return "true"
            if text in ("false", "no", "0"):
                return "false"
            raise ValueError(value)
        if pa.types.is_timestamp(dtype) or pa.types.is_date(dtype):
            return _date(value, dtype)
    except (TypeError, ValueError, OverflowError):
        hint = "; in a list, separate values with commas outside quotes" if in_list and "," in str(value) else ""
        raise FilterError(f"{value!r} is not a valid value for {field!r} ({_kind(dtype)}){hint}") from None
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


def _emptiness(quoted: str, dtype: pa.DataType, empty: bool) -> str:
    """``is empty`` / ``is not empty``: a missing value, and also an empty list or an empty text."""
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        # Imported rows hold [] (not null) when a sequence has no aliases.
        return f"{quoted} IS NULL OR array_length({quoted}) = 0" if empty else f"array_length({quoted}) > 0"
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return f"{quoted} IS NULL OR {quoted} = ''" if empty else f"{quoted} IS NOT NULL AND {quoted} != ''"
    return OPERATORS["is empty" if empty else "is not empty"].format(f=quoted)


def _in_values(c: Condition, dtype: pa.DataType) -> str:
    values = split_in_list(c.value, c.field) if isinstance(c.value, str) else c.value
    if not isinstance(values, (list, tuple)):
        values = [values]
    if not values:
        raise FilterError(f"'in' needs at least one value for {c.field!r}")
    return ", ".join(_literal(v, dtype, c.field, in_list=True) for v in values)


def to_sql(conditions: Sequence[Condition], schema: pa.Schema) -> str | None:
    """Turn conditions (all must hold) into a Lance SQL predicate.

    Returns ``None`` when there is no condition.

    Raises
    ------
    FilterError
        On an unknown field, an unknown operator, an operator that does not
        fit the field's type, or a value of the wrong type or out of range.
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
            parts.append(_emptiness(quoted, dtype, op == "is empty"))
        elif is_list:
            parts.append(f"array_has({quoted}, {_literal(c.value, pa.string(), c.field)})")
        elif op in _TEXT_ONLY:
            if not (pa.types.is_string(dtype) or pa.types.is_large_string(dtype)):
                raise FilterError(f"{op!r} works on text fields; {c.field!r} is {_kind(dtype)}")
            parts.append(OPERATORS[op].format(f=quoted, v=_like(c.value, op == "starts with")))
        elif op == "in":
            parts.append(OPERATORS[op].format(f=quoted, v=_in_values(c, dtype)))
        else:
            parts.append(OPERATORS[op].format(f=quoted, v=_literal(c.value, dtype, c.field)))
    if not parts:
        return None
    return " AND ".join(f"({p})" for p in parts)
