"""Go `encoding/json` look-alike: decode the first JSON value, fill typed fields, encode like Go.

Mirrors what the real server's `json.NewDecoder(body).Decode(&v)` does: only the first value is
read (trailing bytes ignored), object keys match field names exactly first and then
case-insensitively, `null` keeps the current value, a type mismatch is reported as Go words it
(`json: cannot unmarshal string into Go struct field Proxy.name of type string`) while the other
fields are still stored, and floats are refused for integer fields.
"""
from __future__ import annotations

import json
import math
import re
import struct
import sys
from dataclasses import dataclass
from typing import Any, Callable

INT_RANGES = {"int64": (-(2**63), 2**63 - 1), "int": (-(2**63), 2**63 - 1)}


class DecodeError(Exception):
    """A Go-worded decoder error; str() is the text after "bad request body: "."""


class GoNumber(float):
    """A JSON number that was not a plain integer literal; keeps the literal for error messages."""

    literal: str

    def __new__(cls, literal: str) -> "GoNumber":
        obj = super().__new__(cls, float(literal))
        obj.literal = literal
        return obj


class GoInt(int):
    """A JSON integer literal; keeps the literal for error messages."""

    literal: str

    def __new__(cls, literal: str) -> "GoInt":
        obj = super().__new__(cls, int(literal))
        obj.literal = literal
        return obj


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


_DECODER = json.JSONDecoder(
    parse_float=GoNumber, parse_int=GoInt, parse_constant=_reject_constant,
    object_pairs_hook=lambda pairs: _Obj(pairs),
)
_WS = " \t\r\n"


class _Obj(list):
    """An object kept as its ordered (key, value) pairs, so duplicates and key case survive."""


def _quote_char(ch: str) -> str:
    if ch == "'":
        return "'\\''"
    if ch == '"':
        return "'\"'"
    special = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
    if ch in special:
        return f"'{special[ch]}'"
    if ord(ch) < 0x20 or ord(ch) == 0x7F:
        return f"'\\x{ord(ch):02x}'"
    return f"'{ch}'"


def _container_at(text: str, pos: int) -> str:
    """Which container ('{' or '[') is open at pos, scanning outside strings."""
    stack: list[str] = []
    in_str = esc = False
    for ch in text[:pos]:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "{[":
            stack.append(ch)
        elif ch in "}]" and stack:
            stack.pop()
    return stack[-1] if stack else ""


def _go_syntax_message(text: str, err: json.JSONDecodeError) -> str:
    pos = err.pos
    msg = err.msg
    if msg.startswith("Unterminated string") or pos >= len(text.rstrip(_WS)) and not text[pos:pos + 1].strip(_WS):
        return "unexpected EOF"
    if pos >= len(text):
        return "unexpected EOF"
    ch = _quote_char(text[pos])
    if msg.startswith("Expecting value"):
        return f"invalid character {ch} looking for beginning of value"
    if msg.startswith("Expecting property name"):
        return f"invalid character {ch} looking for beginning of object key string"
    if msg.startswith("Expecting ':'"):
        return f"invalid character {ch} after object key"
    if msg.startswith("Expecting ','"):
        if _container_at(text, pos) == "[":
            return f"invalid character {ch} after array element"
        return f"invalid character {ch} after object key:value pair"
    if msg.startswith("Invalid control character"):
        return f"invalid character {ch} in string literal"
    if msg.startswith("Invalid \\escape") or msg.startswith("Invalid \\u"):
        return f"invalid character {ch} in string escape code"
    return f"invalid character {ch} looking for beginning of value"


MAX_DEPTH = 10000  # Go's scanner limit


def _max_depth(text: str, start: int) -> int:
    """Deepest nesting of the first value (strings skipped); stops when the value closes."""
    depth = deepest = 0
    in_str = esc = False
    for ch in text[start:]:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_DEPTH:
                    return deepest
        elif ch in "]}":
            depth -= 1
            if depth <= 0:
                return deepest
    return deepest


def decode_first(body: bytes) -> Any:
    """Decode the first JSON value of body like json.Decoder.Decode; raises DecodeError."""
    text = body.decode("utf-8", errors="replace")
    start = len(text) - len(text.lstrip(_WS))
    if start >= len(text):
        raise DecodeError("EOF")
    old_limit = None
    if text.count("[") + text.count("{") > 500:
        depth = _max_depth(text, start)
        if depth > MAX_DEPTH:
            raise DecodeError("exceeded max depth")
        if depth > 500:
            old_limit = sys.getrecursionlimit()
            sys.setrecursionlimit(max(old_limit, depth * 2 + 1000))
    try:
        value, end = _DECODER.raw_decode(text, start)
    except json.JSONDecodeError as err:
        raise DecodeError(_go_syntax_message(text, err)) from None
    except ValueError as err:  # NaN / Infinity literals
        bad = text.find(str(err)[:1], start)
        ch = _quote_char(text[bad]) if bad >= 0 else "'N'"
        raise DecodeError(f"invalid character {ch} looking for beginning of value") from None
    except RecursionError:
        raise DecodeError("exceeded max depth") from None
    finally:
        if old_limit is not None:
            sys.setrecursionlimit(old_limit)
    # A bare number at the very end may continue in Go's streaming decoder; treat it as complete.
    del end
    return _valid_unicode(value)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _valid_unicode(value: Any) -> Any:
    """Replace lone surrogates (from escapes such as \\ud800) with U+FFFD, as Go's decoder does.

    Python's decoder keeps them as code points that cannot be encoded to UTF-8 later.
    """
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, _Obj):
        return _Obj((_valid_unicode(k), _valid_unicode(v)) for k, v in value)
    if isinstance(value, list):
        return [_valid_unicode(item) for item in value]
    return value


def json_kind(value: Any) -> str:
    """The JSON type word Go uses in UnmarshalTypeError."""
    if isinstance(value, _Obj):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    return "number"


def is_object(value: Any) -> bool:
    return isinstance(value, _Obj)


def pairs(value: Any) -> list[tuple[str, Any]]:
    return list(value) if isinstance(value, _Obj) else []


@dataclass(frozen=True)
class Field:
    """One decodable field: JSON name, Go type name and the target attribute."""

    json_name: str
    go_type: str  # "string" | "bool" | "int64" | "int" | "float32" | "*bool"
    attr: str


def type_error(kind: str, struct_name: str, path: str, go_type: str) -> str:
    return f"json: cannot unmarshal {kind} into Go struct field {struct_name}.{path} of type {go_type}"


def convert(value: Any, go_type: str) -> tuple[bool, Any, str]:
    """Convert a decoded JSON value to a Go-typed Python value: (ok, value, kind-for-error)."""
    kind = json_kind(value)
    base = go_type.lstrip("*")
    if base == "string":
        return (True, value, kind) if kind == "string" else (False, None, kind)
    if base == "bool":
        return (True, value, kind) if kind == "bool" else (False, None, kind)
    if kind != "number":
        return False, None, kind
    literal = getattr(value, "literal", repr(value))
    if base in INT_RANGES:
        low, high = INT_RANGES[base]
        if isinstance(value, GoInt) and low <= int(value) <= high:
            return True, int(value), kind
        return False, None, f"number {literal}"
    if base == "float32":
        number = float(value)
        try:
            f32 = struct.unpack("f", struct.pack("f", number))[0]
        except OverflowError:
            return False, None, f"number {literal}"
        if math.isinf(f32):
            return False, None, f"number {literal}"
        return True, f32, kind
    raise AssertionError(go_type)


def decode_into(obj: Any, fields: list[Field], target: Any, struct_name: str,
                path_prefix: str = "", special: dict[str, Callable[[Any], str | None]] | None = None
                ) -> str | None:
    """Store obj's matching keys onto target's attributes; returns the first type error or None.

    `special` maps a json name to a callback that handles that key itself (returns an error or None).
    """
    exact = {f.json_name: f for f in fields}
    folded = {f.json_name.lower(): f for f in fields}
    first_error: str | None = None
    for key, value in pairs(obj):
        field = exact.get(key) or folded.get(key.lower())
        if field is None:
            continue
        if special and field.json_name in special:
            err = special[field.json_name](value)
            first_error = first_error or err
            continue
        if value is None:
            continue
        ok, converted, kind = convert(value, field.go_type)
        if ok:
            setattr(target, field.attr, converted)
        elif first_error is None:
            first_error = type_error(kind, struct_name, path_prefix + field.json_name, field.go_type)
    return first_error


def format_float32(value: float) -> str:
    """Go's encoding of a float32: the shortest decimal that round-trips in 32 bits."""
    if value == 0:
        return "0"
    target = struct.unpack("f", struct.pack("f", value))[0]
    text = repr(target)
    for digits in range(1, 10):
        candidate = f"{target:.{digits}g}"
        if struct.unpack("f", struct.pack("f", float(candidate)))[0] == target:
            text = candidate
            break
    number = float(text)
    if abs(number) < 1e-6 or abs(number) >= 1e21:
        mantissa, _, exponent = f"{number:.{max(len(text) - 1, 1)}e}".partition("e")
        if "." in mantissa:
            mantissa = mantissa.rstrip("0").rstrip(".")
        exp = int(exponent)
        return f"{mantissa}e{'+' if exp >= 0 else '-'}{abs(exp)}"
    if "e" in text:
        text = f"{number:.20f}".rstrip("0").rstrip(".")
    return text


_ESCAPES = re.compile("[<>&\u2028\u2029]")
_ESCAPE_MAP = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def go_string(value: str) -> str:
    """A JSON string literal escaped like Go's json.Marshal (HTML-safe)."""
    text = json.dumps(value, ensure_ascii=False)
    return _ESCAPES.sub(lambda m: _ESCAPE_MAP[m.group(0)], text)
