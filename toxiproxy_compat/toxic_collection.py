"""A proxy's toxics: the per-direction chains, JSON create/update/remove, and live-link fan-out.

Mirrors toxic_collection.go: names are unique across both streams, listing gives upstream toxics
then downstream toxics in insertion order, and every change is applied to every live link of that
direction (serialised by one lock per proxy, as the Go mutex does).
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from . import errors, gojson
from .gojson import Field
from .link import Link
from .toxics import REGISTRY, Toxic

DIRECTIONS = ("upstream", "downstream")

_WRAPPER_FIELDS = [Field("name", "string", "name"), Field("type", "string", "type"),
                   Field("stream", "string", "stream"), Field("toxicity", "float32", "toxicity"),
                   Field("attributes", "object", "attributes")]
_UPDATE_FIELDS = [Field("attributes", "object", "attributes"), Field("toxicity", "float32", "toxicity")]


@dataclass
class ToxicWrapper:
    """One toxic as the API sees it (Go's ToxicWrapper): attributes, name, type, stream, toxicity."""

    toxic: Toxic
    name: str
    type: str
    stream: str
    toxicity: float
    direction: str = "downstream"

    def to_json(self) -> str:
        attrs = ",".join(f"{gojson.go_string(k)}:{v}" for k, v in self.toxic.attributes())
        return (f'{{"attributes":{{{attrs}}},"name":{gojson.go_string(self.name)},'
                f'"type":{gojson.go_string(self.type)},"stream":{gojson.go_string(self.stream)},'
                f'"toxicity":{gojson.format_float32(self.toxicity)}}}')


@dataclass
class _Draft:
    name: str = ""
    type: str = ""
    stream: str = "downstream"
    toxicity: float = 1.0


def _decode_attributes(value: Any, toxic: Toxic, struct_for_error: str) -> str | None:
    """Decode an "attributes" value into a toxic; returns the first Go type error or None."""
    if value is None:
        return None
    if not gojson.is_object(value):
        return (f"json: cannot unmarshal {gojson.json_kind(value)} into Go struct field "
                f"{struct_for_error}.attributes of type toxics.{type(toxic).STRUCT}")
    return gojson.decode_into(value, list(toxic.FIELDS), toxic, toxic.STRUCT, "attributes.")


class ToxicCollection:
    """The toxics of one proxy and the live links they apply to."""

    def __init__(self) -> None:
        self.chain: dict[str, list[ToxicWrapper]] = {d: [] for d in DIRECTIONS}
        self.links: dict[str, set[Link]] = {d: set() for d in DIRECTIONS}
        self.lock = asyncio.Lock()

    def ordered(self) -> list[ToxicWrapper]:
        return self.chain["upstream"] + self.chain["downstream"]

    def find(self, name: str) -> ToxicWrapper | None:
        return next((w for w in self.ordered() if w.name == name), None)

    def to_json(self) -> str:
        return "[" + ",".join(w.to_json() for w in self.ordered()) + "]"

    def register(self, up: Link, down: Link) -> None:
        self.links["upstream"].add(up)
        self.links["downstream"].add(down)

    def unregister(self, *links: Link) -> None:
        for link in links:
            self.links[link.direction].discard(link)

    # ----- API operations ------------------------------------------------------------------
    async def add_json(self, body: bytes) -> ToxicWrapper:
        try:
            value = gojson.decode_first(body)
        except gojson.DecodeError as exc:
            raise errors.BAD_REQUEST_BODY.joined(str(exc)) from None
        draft = _Draft()
        attrs_raw: list[Any] = [None]
        if value is not None and not gojson.is_object(value):
            raise errors.BAD_REQUEST_BODY.joined(
                f"json: cannot unmarshal {gojson.json_kind(value)} into Go value of type toxics.ToxicWrapper")
        def take_attrs(raw: Any) -> str | None:
            attrs_raw[0] = raw
            if raw is None or gojson.is_object(raw):
                return None
            return (f"json: cannot unmarshal {gojson.json_kind(raw)} into Go struct field "
                    f"ToxicWrapper.attributes of type toxics.NoopToxic")
        err = gojson.decode_into(value, _WRAPPER_FIELDS, draft, "ToxicWrapper",
                                 special={"attributes": take_attrs})
        if err:
            raise errors.BAD_REQUEST_BODY.joined(err)
        direction = draft.stream.lower()
        if direction not in DIRECTIONS:
            raise errors.INVALID_STREAM
        name = draft.name or f"{draft.type}_{draft.stream}"
        toxic_type = REGISTRY.get(draft.type)
        if toxic_type is None:
            raise errors.INVALID_TOXIC_TYPE
        if self.find(name) is not None:
            raise errors.TOXIC_ALREADY_EXISTS
        toxic = toxic_type()
        err = _decode_attributes(attrs_raw[0], toxic, "")
        if err:
            raise errors.BAD_REQUEST_BODY.joined(err)
        toxic.validate()
        wrapper = ToxicWrapper(toxic, name, draft.type, draft.stream, draft.toxicity, direction)
        async with self.lock:
            if self.find(name) is not None:
                raise errors.TOXIC_ALREADY_EXISTS
            self.chain[direction].append(wrapper)
            links = list(self.links[direction])
            await asyncio.gather(*(link.add_toxic(wrapper) for link in links))
        return wrapper

    async def update_json(self, name: str, body: bytes) -> ToxicWrapper:
        wrapper = self.find(name)
        if wrapper is None:
            raise errors.TOXIC_NOT_FOUND
        try:
            value = gojson.decode_first(body)
        except gojson.DecodeError as exc:
            raise errors.BAD_REQUEST_BODY.joined(str(exc)) from None
        if value is not None and not gojson.is_object(value):
            raise errors.BAD_REQUEST_BODY.joined(
                f"json: cannot unmarshal {gojson.json_kind(value)} into Go value of type "
                "struct { Attributes interface {} \"json:\\\"attributes\\\"\"; Toxicity float32 \"json:\\\"toxicity\\\"\" }")
        candidate = wrapper.toxic.copy()
        draft = _Draft(toxicity=wrapper.toxicity)
        err = gojson.decode_into(value, _UPDATE_FIELDS, draft, "",
                                 special={"attributes": lambda raw: _decode_attributes(raw, candidate, "")})
        candidate.validate()
        async with self.lock:
            wrapper.toxic.assign_from(candidate)  # Go decodes in place, even when a later key fails
            if err:
                raise errors.BAD_REQUEST_BODY.joined(err)
            wrapper.toxicity = draft.toxicity
            links = list(self.links[wrapper.direction])
            await asyncio.gather(*(link.update_toxic(wrapper) for link in links))
        return wrapper

    async def remove(self, name: str) -> None:
        async with self.lock:
            wrapper = self.find(name)
            if wrapper is None:
                raise errors.TOXIC_NOT_FOUND
            await self._remove(wrapper)

    async def _remove(self, wrapper: ToxicWrapper) -> None:
        self.chain[wrapper.direction].remove(wrapper)
        links = list(self.links[wrapper.direction])
        await asyncio.gather(*(link.remove_toxic(wrapper) for link in links))

    async def reset(self) -> None:
        async with self.lock:
            for wrapper in self.ordered():
                await self._remove(wrapper)


