"""Eve query arguments (``where``, ``sort``) checked before the database sees them.

Two concerns, one walk over the query:

- **Field access**: every field a filter or sort names must be one the caller
  may read (:mod:`flamenco.auth.fields`), at the top level, inside
  ``$and``/``$or``/``$nor``, or as a dotted path; otherwise the query is an
  oracle on a hidden field.
- **Operand shapes**: Eve checks operator names, not operands; the database
  refuses bad ones, and on the counted collections Eve then falls back to the
  removed ``Collection.count()`` (a 500). Only the operators below are
  accepted, each with the operand it takes; the local store also crashes on a
  non-array ``$mod`` (flamenco.store: operators), so nothing malformed may
  reach it.

Functions raise :class:`QueryError` naming the argument path; the Eve hook
turns it into a 400.
"""
from __future__ import annotations

import ast
import numbers
from typing import Any, Callable, Collection

LOGICAL_OPERATORS = ("$and", "$or", "$nor")
# BSON type aliases and numbers ``$type`` accepts (MongoDB's list).
BSON_TYPE_ALIASES = frozenset({
    "double", "string", "object", "array", "binData", "undefined", "objectId", "bool", "date", "null",
    "regex", "dbPointer", "javascript", "symbol", "javascriptWithScope", "int", "timestamp", "long",
    "decimal", "minKey", "maxKey", "number",
})
BSON_TYPE_NUMBERS = frozenset({-1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 127})


class QueryError(ValueError):
    """A query argument the server refuses; ``field`` is its path (``where.status.$in``)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _array(operand: object) -> str | None:
    return None if isinstance(operand, list) else "takes an array"


def _size(operand: object) -> str | None:
    ok = isinstance(operand, int) and not isinstance(operand, bool) and operand >= 0
    return None if ok else "takes a non-negative integer"


def _exists(operand: object) -> str | None:
    return None if isinstance(operand, bool) else "takes true or false"


def _type(operand: object) -> str | None:
    items = operand if isinstance(operand, list) and operand else [operand]
    for item in items:
        if not (item in BSON_TYPE_ALIASES if isinstance(item, str)
                else isinstance(item, int) and not isinstance(item, bool) and item in BSON_TYPE_NUMBERS):
            return "takes a BSON type alias (such as 'string') or number, or an array of them"
    return None


def _mod(operand: object) -> str | None:
    ok = (isinstance(operand, list) and len(operand) == 2 and all(_is_number(n) for n in operand)
          and int(operand[0]) != 0)
    return None if ok else "takes [divisor, remainder]: two numbers, the divisor not 0"


def _any(operand: object) -> str | None:
    return None


# Field-level operators -> check of their operand ($elemMatch and $not are walked separately).
OPERAND_CHECKS: dict[str, Callable[[object], str | None]] = {
    "$eq": _any, "$ne": _any, "$gt": _any, "$gte": _any, "$lt": _any, "$lte": _any,
    "$in": _array, "$nin": _array, "$all": _array,
    "$exists": _exists, "$type": _type, "$size": _size, "$mod": _mod,
}
STRUCTURED_OPERATORS = ("$elemMatch", "$not")
SUPPORTED_OPERATORS = tuple(OPERAND_CHECKS) + STRUCTURED_OPERATORS + LOGICAL_OPERATORS


def _is_operator_expression(value: object) -> bool:
    return isinstance(value, dict) and any(isinstance(k, str) and k.startswith("$") for k in value)


def _check_literal(value: Any, path: str) -> None:
    """A value compared as is: it may not smuggle in operators (``$``-keys) anywhere."""
    stack = [(value, path)]
    while stack:
        item, item_path = stack.pop()
        if isinstance(item, dict):
            for key, sub in item.items():
                if key.startswith("$"):
                    raise QueryError(f"{item_path}.{key}", f"operator {key} is not allowed inside a value")
                stack.append((sub, f"{item_path}.{key}"))
        elif isinstance(item, list):
            stack.extend((sub, f"{item_path}[{i}]") for i, sub in enumerate(item))


def _check_condition(value: Any, path: str) -> None:
    """The condition on one field: a literal, or an object of operators."""
    if not _is_operator_expression(value):
        _check_literal(value, path)
        return
    for op, operand in value.items():
        op_path = f"{path}.{op}"
        if not op.startswith("$"):
            raise QueryError(op_path, "cannot mix operators and plain keys in one condition")
        if op == "$elemMatch":
            if not isinstance(operand, dict):
                raise QueryError(op_path, "takes an object (a condition on the array's elements)")
            if _is_operator_expression(operand):
                _check_condition(operand, op_path)
            else:
                # A query on the elements' sub-fields: readable with the field itself.
                _check_document(operand, op_path, fields=None)
        elif op == "$not":
            if not _is_operator_expression(operand):
                raise QueryError(op_path, "takes an object of operators, such as {\"$gt\": 5}")
            _check_condition(operand, op_path)
        elif op in OPERAND_CHECKS:
            reason = OPERAND_CHECKS[op](operand)
            if reason:
                raise QueryError(op_path, f"{op} {reason}")
            _check_literal(operand, op_path)
        else:
            raise QueryError(op_path, f"unsupported operator {op}; use one of {', '.join(SUPPORTED_OPERATORS)}")


def _check_document(where: Any, path: str, fields: Collection[str] | None) -> None:
    """A query document; ``fields`` are the top-level fields it may name (None: any, inside $elemMatch)."""
    if not isinstance(where, dict):
        raise QueryError(path, "must be a JSON object")
    for key, value in where.items():
        key_path = f"{path}.{key}"
        if key in LOGICAL_OPERATORS:
            if not isinstance(value, list) or not value:
                raise QueryError(key_path, f"{key} takes a non-empty array of objects")
            for index, clause in enumerate(value):
                _check_document(clause, f"{key_path}[{index}]", fields)
        elif key.startswith("$"):
            raise QueryError(key_path, f"unsupported operator {key} here; "
                                       f"combine conditions with {', '.join(LOGICAL_OPERATORS)}")
        elif not key or key.split(".", 1)[0] == "" or ".." in key or key.endswith("."):
            raise QueryError(key_path, "is not a field name")
        else:
            if fields is not None and key.split(".", 1)[0] not in fields:
                raise QueryError(key_path, f"filter on {key!r} is not allowed: not a field you may read")
            _check_condition(value, key_path)


def check_where(where: Any, fields: Collection[str]) -> None:
    """Refuse a ``where`` document naming an unreadable field or misusing an operator."""
    _check_document(where, "where", fields)


def parse_sort(raw: str) -> list[tuple[str, int]]:
    """Eve's two sort syntaxes, ``-priority,name`` and ``[("priority", -1)]``, as (field, direction)."""
    try:
        parsed = ast.literal_eval(raw)
    except ValueError:
        parsed = None  # not a Python literal: the comma syntax
    except (SyntaxError, TypeError, MemoryError, RecursionError):
        raise QueryError("sort", 'must be like -priority,name or [("priority", -1)]') from None
    if parsed is None:
        result = []
        for item in (part.strip() for part in raw.split(",")):
            name = item[1:] if item.startswith("-") else item
            if not name:
                raise QueryError("sort", "has an empty field name")
            result.append((name, -1 if item.startswith("-") else 1))
        return result
    if not isinstance(parsed, (list, tuple)) or not parsed:
        raise QueryError("sort", 'must be like -priority,name or [("priority", -1)]')
    result = []
    for item in parsed:
        if (not isinstance(item, (list, tuple)) or len(item) != 2 or not isinstance(item[0], str)
                or item[1] not in (1, -1) or isinstance(item[1], bool)):
            raise QueryError("sort", 'each item must be ("field", 1) or ("field", -1)')
        result.append((item[0], item[1]))
    return result


def check_sort(sort: list[tuple[str, int]], fields: Collection[str]) -> None:
    """Refuse sorting on a field the caller may not read."""
    for name, _direction in sort:
        if name.split(".", 1)[0] not in fields:
            raise QueryError("sort", f"sort on {name!r} is not allowed: not a field you may read")
