"""Go types as the type oracle answers them: types, objects, uses, struct layouts and build targets."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class GoType:
    """A type as go/types sees it at one expression (`text` is types.TypeString, package-relative).

    `kind` is the underlying type's kind: basic, slice, array, map, pointer, struct, interface,
    func, chan, tuple or typeparam. `size` and `align` are bytes for the target GOARCH
    (types.SizesFor("gc", GOARCH)); `methods` is the method set of the type itself, and
    `pointer_methods` that of a pointer to it; `implements` names the well-known interfaces it
    satisfies (error, fmt.Stringer, fmt.GoStringer, fmt.Formatter, io.Writer, io.StringWriter,
    io.ByteWriter). `constant` is a constant's exact value in Go syntax.
    """

    text: str
    underlying: str
    kind: str
    named: bool = False
    basic: str = ""
    integer: bool = False
    unsigned: bool = False
    float: bool = False
    string: bool = False
    boolean: bool = False
    untyped: bool = False
    size: int | None = None
    align: int | None = None
    methods: frozenset[str] = frozenset()
    pointer_methods: frozenset[str] = frozenset()
    implements: frozenset[str] = frozenset()
    elem: GoType | None = None
    key: GoType | None = None
    fields: tuple[tuple[str, str], ...] = ()
    constant: str | None = None
    ascii: bool | None = None
    pkg: str = ""
    is_type: bool = False

    @property
    def is_interface(self) -> bool:
        return self.kind == "interface"

    @property
    def is_byte_slice(self) -> bool:
        return self.kind == "slice" and self.elem is not None and self.elem.basic == "uint8"

    @property
    def formats_itself(self) -> bool:
        """Whether fmt would call one of its methods (Format, Error, String) instead of printing the value."""
        return self.is_interface or bool({"error", "fmt.Stringer", "fmt.Formatter"} & self.implements)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> GoType:
        nested = {k: cls.from_json(raw[k]) for k in ("elem", "key") if isinstance(raw.get(k), dict)}
        return cls(
            text=str(raw.get("type", "")),
            underlying=str(raw.get("underlying", "")),
            kind=str(raw.get("kind", "")),
            named=bool(raw.get("named")),
            basic=str(raw.get("basic", "")),
            integer=bool(raw.get("integer")),
            unsigned=bool(raw.get("unsigned")),
            float=bool(raw.get("float")),
            string=bool(raw.get("string")),
            boolean=bool(raw.get("boolean")),
            untyped=bool(raw.get("untyped")),
            size=raw.get("size"),
            align=raw.get("align"),
            methods=frozenset(raw.get("methods") or ()),
            pointer_methods=frozenset(raw.get("pointer_methods") or ()),
            implements=frozenset(raw.get("implements") or ()),
            fields=tuple((str(f["name"]), str(f["type"])) for f in raw.get("fields") or ()),
            constant=raw.get("constant"),
            ascii=raw.get("ascii"),
            pkg=str(raw.get("pkg", "")),
            is_type=bool(raw.get("is_type")),
            **nested,
        )


@dataclass(frozen=True)
class GoObject:
    """What an identifier refers to (go/types' Object): its key is the same in every package that sees it."""

    key: str
    name: str
    kind: str  # var, const, func, typename, pkgname, field, label, builtin, nil
    exported: bool
    path: Path
    offset: int
    line: int
    package_level: bool
    pkg: str = ""
    type: GoType | None = None
    imported: str = ""  # for a package name: the path it imports
    universe: bool = False

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> GoObject:
        return cls(
            key=str(raw["key"]),
            name=str(raw["name"]),
            kind=str(raw["kind"]),
            exported=bool(raw.get("exported")),
            path=Path(str(raw.get("file", ""))),
            offset=int(raw.get("offset", -1)),
            line=int(raw.get("line", 0)),
            package_level=bool(raw.get("package_level")),
            pkg=str(raw.get("pkg", "")),
            type=GoType.from_json(raw["type"]) if isinstance(raw.get("type"), dict) else None,
            imported=str(raw.get("imported", "")),
            universe=bool(raw.get("universe")),
        )


@dataclass(frozen=True)
class Use:
    """One place in the source: a use of an object, or an identity use of a function's results."""

    path: Path
    start: int
    end: int
    line: int
    text: str = ""
    why: str = ""  # for an identity use: how the values are told apart, or why they could not be followed

    def where(self) -> str:
        return f"{self.path.name}:{self.line}"

    def describe(self) -> str:
        """`incidents.go:11 (seen[err]): a map key`."""
        text = f" ({self.text})" if self.text else ""
        why = f": {self.why}" if self.why else ""
        return f"{self.where()}{text}{why}"


@dataclass(frozen=True)
class Field:
    """One field of a struct as the target GOARCH lays it out: bytes of size, alignment and offset."""

    name: str
    type: str
    size: int
    align: int
    offset: int
    embedded: bool = False


@dataclass(frozen=True)
class Layout:
    """A struct type's layout for the target GOARCH (types.SizesFor("gc", GOARCH)), and who could tell its order.

    `order` lists the field indices in an order that leaves no padding between fields (zero-sized
    fields first, then by alignment, descending; stable among equals), `reordered_size` the size
    that order gives. `pointers`: the garbage collector scans it. Asked with `observe`: `observed`
    are the places in the module, tests included, that could tell the field order, each saying how
    (`why`); `api` the first exported declaration of the package whose type reaches it, as
    (name, type), or None.
    """

    type: str
    goarch: str
    size: int
    align: int
    word: int
    pointers: bool
    fields: tuple[Field, ...]
    order: tuple[int, ...]
    reordered_size: int
    host_layout: bool = False
    cgo: tuple[str, ...] = ()
    observed: tuple[Use, ...] = ()
    api: tuple[str, str] | None = None

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Layout:
        api = raw.get("api") or {}
        return cls(
            type=str(raw["type"]),
            goarch=str(raw.get("goarch", "")),
            size=int(raw["size"]),
            align=int(raw["align"]),
            word=int(raw["word"]),
            pointers=bool(raw.get("pointers")),
            fields=tuple(
                Field(
                    str(f["name"]),
                    str(f["type"]),
                    int(f["size"]),
                    int(f["align"]),
                    int(f["offset"]),
                    bool(f.get("embedded")),
                )
                for f in raw.get("fields") or ()
            ),
            order=tuple(int(i) for i in raw.get("order") or ()),
            reordered_size=int(raw["reordered_size"]),
            host_layout=bool(raw.get("host_layout")),
            cgo=tuple(str(f) for f in raw.get("cgo") or ()),
            observed=_uses(raw.get("observed")),
            api=(str(api["name"]), str(api["type"])) if api.get("name") else None,
        )


@dataclass(frozen=True)
class Targets:
    """The GOOS/GOARCH targets whose builds together compile every .go file of some directories.

    `targets[i]` is a (GOOS, GOARCH) pair, the host first; `adds[i]` the files (tests included)
    that target compiles and no earlier one does, in directory order. `never` are the files no
    target compiles (`//go:build ignore`, custom tags, names starting with `_` or `.`). Whether a
    target compiles a file is go/build's Context.MatchFile for that GOOS/GOARCH; a file importing
    "C" counts only for the host, and only when cgo is enabled there, since other targets are built
    with CGO_ENABLED=0.
    """

    targets: tuple[tuple[str, str], ...]
    adds: tuple[tuple[Path, ...], ...]
    never: tuple[Path, ...]

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Targets:
        chosen = raw.get("targets") or ()
        return cls(
            targets=tuple((str(t["goos"]), str(t["goarch"])) for t in chosen),
            adds=tuple(tuple(Path(str(f)) for f in t.get("adds") or ()) for t in chosen),
            never=tuple(Path(str(f)) for f in raw.get("never") or ()),
        )


def _uses(raw: object) -> tuple[Use, ...]:
    items: Iterable[dict[str, Any]] = raw if isinstance(raw, list) else ()
    return tuple(
        Use(
            Path(str(u["file"])),
            int(u["start"]),
            int(u["end"]),
            int(u["line"]),
            str(u.get("text", "")),
            str(u.get("why", "")),
        )
        for u in items
    )
