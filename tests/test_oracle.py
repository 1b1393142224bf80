"""The type oracle: built offline from the shipped Go source, answering go/types' questions on real packages."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib import resources
from pathlib import Path

import pytest

from goescape.engine.cachedir import cache_dir
from goescape.engine.gotypes import GoObject, GoType, Layout
from goescape.engine.oracle import Oracle, oracle_binary
from goescape.engine.toolchain import Toolchain

from .conftest import ROOT, write_tree

GO_MOD = "module example.com/{}\n\ngo 1.22\n"


def span(path: Path, text: str, after: str = "") -> tuple[int, int]:
    """The byte range of the first `text` in `path` (after the first `after`, when given)."""
    data = path.read_bytes()
    start = data.index(text.encode(), data.index(after.encode()) if after else 0)
    return start, start + len(text.encode())


def type_of(oracle: Oracle, path: Path, text: str, after: str = "") -> GoType | None:
    return oracle.type_at(path, *span(path, text, after))


def module(root: Path, name: str, files: dict[str, str]) -> Path:
    write_tree(root, {"go.mod": GO_MOD.format(name), **files})
    return root


def ask_binary(binary: Path, tc: Toolchain, request: dict[str, object]) -> object:
    """One request straight to an oracle binary, without the Python client."""
    out = subprocess.run(
        [str(binary), "-go", str(tc.go)],
        input=json.dumps({"id": 1, **request}) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


# --- building -------------------------------------------------------------------------------


@pytest.fixture
def fresh_cache(toolchain: Toolchain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty user cache directory (XDG_CACHE_HOME), keeping Go's own build cache where it was.

    Go derives GOCACHE from XDG_CACHE_HOME too; left to follow it, every build here would compile
    the standard library from nothing.
    """
    gocache = toolchain.run(["env", "GOCACHE"], tmp_path).stdout.strip()
    xdg = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    monkeypatch.delenv("GOESCAPE_CACHE_DIR", raising=False)  # the session's, set by conftest, would win
    if gocache:
        monkeypatch.setenv("GOCACHE", gocache)
    return xdg


def test_oracle_builds_offline_into_the_user_cache_and_is_rebuilt_when_the_cache_is_gone(
    toolchain: Toolchain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_cache: Path
) -> None:
    xdg = fresh_cache
    # What an offline user with modules forced on has; the build must need nothing from a proxy.
    monkeypatch.setenv("GOFLAGS", "-mod=mod")
    monkeypatch.setenv("GOPROXY", "off")
    assert cache_dir() == xdg / "goescape"
    monkeypatch.setenv("GOESCAPE_CACHE_DIR", str(tmp_path / "chosen"))
    assert cache_dir() == tmp_path / "chosen", "GOESCAPE_CACHE_DIR wins over the user cache"
    monkeypatch.delenv("GOESCAPE_CACHE_DIR")

    binary = oracle_binary(toolchain)
    assert binary.is_file() and os.access(binary, os.X_OK)
    assert binary.is_relative_to(xdg / "goescape" / "oracle")
    assert [p.name for p in binary.parent.iterdir()] == [binary.name], "the build folder is cleaned up"
    first = binary.stat()
    assert oracle_binary(toolchain) == binary
    assert binary.stat().st_mtime_ns == first.st_mtime_ns, "a second call reuses the built binary"

    shutil.rmtree(xdg / "goescape")
    rebuilt = oracle_binary(toolchain)
    assert rebuilt == binary and rebuilt.is_file()
    assert rebuilt.stat().st_mtime_ns > first.st_mtime_ns, "the binary was built again"

    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "p.go").write_text("package p\n\nconst Answer = 42\n")
    answer = ask_binary(rebuilt, toolchain, {"op": "names", "dir": str(tmp_path / "pkg")})
    assert answer == {"id": 1, "result": ["Answer"]}


def test_oracle_build_forbids_the_network_whatever_the_user_environment(
    toolchain: Toolchain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_cache: Path
) -> None:
    # A wrapper around the real `go` that writes down the environment each command ran with.
    log = tmp_path / "go.log"
    shim = tmp_path / "bin" / "go"
    shim.parent.mkdir()
    shim.write_text(
        "#!/bin/sh\n"
        f'echo "$1 GOPROXY=$GOPROXY GOTOOLCHAIN=$GOTOOLCHAIN GOWORK=$GOWORK GOFLAGS=$GOFLAGS" >> {log}\n'
        f'exec {toolchain.go} "$@"\n'
    )
    shim.chmod(0o755)
    monkeypatch.setenv("GOPROXY", "https://proxy.golang.org,direct")
    monkeypatch.setenv("GOTOOLCHAIN", "auto")
    monkeypatch.setenv("GOFLAGS", "-mod=vendor")
    wrapped = Toolchain(go=shim, version=toolchain.version, goroot=toolchain.goroot, env=toolchain.env)

    assert oracle_binary(wrapped).is_file()
    builds = [line for line in log.read_text().splitlines() if line.startswith("build ")]
    assert builds == ["build GOPROXY=off GOTOOLCHAIN=local GOWORK=off GOFLAGS=-mod=mod"]


def test_oracle_builds_with_no_network_at_all(toolchain: Toolchain, tmp_path: Path, fresh_cache: Path) -> None:
    if (
        shutil.which("unshare") is None
        or subprocess.run(["unshare", "-rn", "true"], capture_output=True, check=False).returncode != 0
    ):
        pytest.skip("no network namespaces here (unshare -rn)")
    env = os.environ | {"GOMODCACHE": str(tmp_path / "modcache")}
    script = (
        "from goescape.engine.oracle import oracle_binary\n"
        "from goescape.engine.toolchain import find_toolchain\n"
        f"print(oracle_binary(find_toolchain({str(toolchain.go)!r})))\n"
    )
    out = subprocess.run(
        ["unshare", "-rn", sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert Path(out.stdout.strip()).is_file()
    assert not (tmp_path / "modcache").exists(), "no module was fetched"


def test_oracle_is_built_for_this_machine_while_the_user_targets_another(
    toolchain: Toolchain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_cache: Path
) -> None:
    host = toolchain.run(["env", "GOHOSTARCH"], tmp_path).stdout.strip()
    monkeypatch.setenv("GOOS", "windows")
    monkeypatch.setenv("GOARCH", "arm64" if host != "arm64" else "amd64")
    root = module(
        tmp_path / "m",
        "target",
        {
            "pair.go": "package target\n\ntype Pair struct {\n\tN int\n\tP *int\n}\n\nvar pair = Pair{}\n",
            "w_windows.go": 'package target\n\nvar onWindows = len("win")\n',
        },
    )
    with Oracle(toolchain, root, ["./..."]) as oracle:  # the binary runs: it was not built for windows/arm64
        assert type_of(oracle, root / "w_windows.go", 'len("win")').text == "int"
        assert type_of(oracle, root / "pair.go", "Pair{}").size == 16

    monkeypatch.setenv("GOOS", "linux")
    monkeypatch.setenv("GOARCH", "386")
    with Oracle(toolchain, root, ["./..."]) as oracle:  # sizes follow the target, not the oracle's own build
        pair = type_of(oracle, root / "pair.go", "Pair{}")
        assert (pair.size, pair.align) == (8, 4)


def test_oracle_source_ships_as_package_data(tmp_path: Path) -> None:
    source = resources.files("goescape.engine").joinpath("oracle_go", "oracle.go")
    assert source.read_text().startswith("// Command goescape-oracle")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "oracle_go/*.go" in pyproject["tool"]["setuptools"]["package-data"]["goescape.engine"]

    # A wheel built from a copy of the project (not the shared checkout) holds the Go source.
    project = tmp_path / "project"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("engine", "codemods", "golden"):
        shutil.copytree(ROOT / folder, project / folder, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    built = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path / "dist"), str(project)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    wheel = next((tmp_path / "dist").glob("goescape-*.whl"))
    shipped = zipfile.ZipFile(wheel).read("goescape/engine/oracle_go/oracle.go")
    assert shipped == (project / "engine" / "oracle_go" / "oracle.go").read_bytes()


# --- loading real packages ----------------------------------------------------------------


def test_net_http_type_checks_through_its_vendored_imports(toolchain: Toolchain, tmp_path: Path) -> None:
    root = module(tmp_path, "user", {"main.go": "package main\n\nfunc main() {}\n"})
    http = toolchain.goroot / "src" / "net" / "http"
    server, h2 = http / "server.go", http / "h2_bundle.go"
    with Oracle(toolchain, root, ["net/http"]) as oracle:
        assert oracle.check_errors(server) == ""
        assert oracle.check_errors(h2) == ""
        call = "httpguts.ValidHostHeader(hosts[0])"
        assert type_of(oracle, server, call).text == "bool"
        start, _ = span(server, call)
        httpguts = oracle.object_at(server, start, start + len("httpguts"))
        assert httpguts is not None and httpguts.kind == "pkgname"
        assert httpguts.imported == "vendor/golang.org/x/net/http/httpguts"

        encoder = type_of(oracle, h2, "hpack.NewEncoder(&sc.headerWriteBuf)")
        assert encoder is not None and encoder.kind == "pointer"
        assert encoder.elem is not None and encoder.elem.pkg == "vendor/golang.org/x/net/http2/hpack"
        assert encoder.elem.text.endswith("hpack.Encoder") and "WriteField" in encoder.methods


def test_cgo_package_is_checked_with_C_faked(
    toolchain: Toolchain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("gcc") is None and shutil.which("cc") is None:
        pytest.skip("cgo needs a C compiler")
    monkeypatch.setenv("CGO_ENABLED", "1")
    root = module(
        tmp_path,
        "cg",
        {
            "cg.go": (
                "package cg\n\n"
                "/*\nstatic int twice(int x) { return 2*x; }\n*/\n"
                'import "C"\n\n'
                'import "strings"\n\n'
                "func Double(x int) int {\n\treturn int(C.twice(C.int(x)))\n}\n\n"
                'func Label(x int) string {\n\treturn strings.Repeat("a", x)\n}\n'
            )
        },
    )
    built = toolchain.run(["build", "./..."], root)
    assert built.returncode == 0, built.stderr
    src = root / "cg.go"
    with Oracle(toolchain, root, ["./..."]) as oracle:
        assert oracle.check_errors(src) == ""
        label = type_of(oracle, src, 'strings.Repeat("a", x)')
        assert label is not None and label.text == "string" and label.string
        assert type_of(oracle, src, "x", after="func Double").text == "int"
        assert type_of(oracle, src, "C.twice(C.int(x))") is None


def test_module_with_a_test_only_folder_and_an_ignored_folder_loads(toolchain: Toolchain, tmp_path: Path) -> None:
    root = module(
        tmp_path,
        "mixed",
        {
            "lib/lib.go": (
                "package lib\n\nfunc Sum(xs []int) int {\n\ttotal := 0\n"
                "\tfor _, x := range xs {\n\t\ttotal += x\n\t}\n\treturn total\n}\n"
            ),
            "onlytests/sum_test.go": (
                'package onlytests\n\nimport (\n\t"testing"\n\n\t"example.com/mixed/lib"\n)\n\n'
                "func TestSum(t *testing.T) {\n\tif got := lib.Sum([]int{1, 2}); got != 3 {\n\t\tt.Fatal(got)\n\t}\n}\n"
            ),
            "tools/gen.go": "//go:build ignore\n\npackage main\n\nfunc main() {}\n",
        },
    )
    lib, only = root / "lib" / "lib.go", root / "onlytests" / "sum_test.go"
    with Oracle(toolchain, root, ["./..."]) as oracle:
        assert oracle.check_errors(lib) == ""
        xs = type_of(oracle, lib, "xs", after="range")
        assert xs is not None and xs.kind == "slice" and xs.elem is not None and xs.elem.text == "int"
        assert type_of(oracle, lib, "total", after="return").text == "int"
        assert type_of(oracle, only, "lib.Sum([]int{1, 2})").text == "int"
        assert oracle.check_errors(root / "tools" / "gen.go") == "gen.go is in no loaded package"


# --- what the oracle says about types -------------------------------------------------------


TYPES_GO = """package kinds

import (
	"io"
	"strconv"
)

type Level int

func (l Level) String() string { return "L" + strconv.Itoa(int(l)) }

type Source struct {
	R io.Reader
}

type Tagged struct {
	Tag byte
	R   io.Reader
}

const (
	plain  = "abc"
	folded = "ſ"
	broken = "\\xff"
)

var (
	buf    = []byte("x")
	level  = Level(2)
	count  = 3
	source = Source{}
	tagged = Tagged{}
)
"""


def test_types_as_codemods_read_them(toolchain: Toolchain, tmp_path: Path) -> None:
    root = module(tmp_path, "kinds", {"kinds.go": TYPES_GO})
    src = root / "kinds.go"
    with Oracle(toolchain, root, ["./..."]) as oracle:
        assert oracle.check_errors(src) == ""
        buf = type_of(oracle, src, '[]byte("x")')
        assert buf is not None and buf.is_byte_slice and not buf.formats_itself

        level = type_of(oracle, src, "Level(2)")
        assert level is not None and level.named and level.integer and level.text == "Level"
        assert "fmt.Stringer" in level.implements and level.formats_itself
        count = type_of(oracle, src, "3", after="count")
        assert count is not None and count.text == "int" and not count.formats_itself and not count.is_byte_slice

        source = type_of(oracle, src, "Source{}")
        assert (source.size, source.align) == (16, 8), "an interface is two words on amd64"
        assert source.fields == (("R", "io.Reader"),)
        tagged = type_of(oracle, src, "Tagged{}")
        assert (tagged.size, tagged.align) == (24, 8)

        abc = type_of(oracle, src, '"abc"')
        assert abc is not None and abc.untyped and abc.string and abc.constant == '"abc"' and abc.ascii is True
        long_s = type_of(oracle, src, '"ſ"')
        assert long_s is not None and long_s.constant == '"ſ"' and long_s.ascii is False
        raw = type_of(oracle, src, '"\\xff"')
        assert raw is not None and raw.ascii is False, "one byte 0xff is not ASCII, however it is quoted"
        assert type_of(oracle, src, "3", after="count").ascii is None


def test_names_covers_every_file_whatever_its_build_constraints(toolchain: Toolchain, tmp_path: Path) -> None:
    root = module(
        tmp_path,
        "names",
        {
            "p.go": 'package p\n\nimport str "strings"\n\nvar Upper = str.ToUpper\n\nfunc (t T) M() {}\n\ntype T int\n',
            "p_windows.go": "package p\n\nvar onlyOnWindows = 1\n",
            "gen.go": "//go:build ignore\n\npackage main\n\nfunc generatorOnly() {}\n",
        },
    )
    with Oracle(toolchain, root, ["./..."]) as oracle:
        names = oracle.names(root)
        assert {"onlyOnWindows", "generatorOnly", "Upper", "T", "str"} <= names
        assert "M" not in names and "strings" not in names, "methods and renamed imports take no package name"
        # The build of the package itself sees neither file.
        assert oracle.lookup(root / "p.go", span(root / "p.go", "var Upper")[0], "onlyOnWindows") is None


# --- uses and identity uses ----------------------------------------------------------------


IDENTITY_A = """package a

import "errors"

var ErrGone = errors.New("gone")

// Key's results are map keys in b.
func Key() error { return ErrGone }

// Nilled's results are only compared with nil.
func Nilled() error { return nil }

// Paired's results are compared with another call's.
func Paired() error { return ErrGone }

// Sentinel's results are compared with package-level sentinels only.
func Sentinel() error { return ErrGone }

func Other() error { return nil }
"""

IDENTITY_B = """package b

import (
	"errors"

	"example.com/ident/a"
)

var ErrLocal = errors.New("local")

func Tally(seen map[error]int) {
	seen[a.Key()]++
}

func Fine() error {
	if err := a.Nilled(); err != nil {
		return err
	}
	return nil
}

func Checked() bool {
	return a.Nilled() == nil
}

func Same() bool {
	err := a.Paired()
	want := a.Other()
	return err == want
}

func Gone() bool {
	err := a.Sentinel()
	return err == a.ErrGone || a.Sentinel() != ErrLocal || errors.Is(err, a.ErrGone)
}
"""

IDENTITY_B_TEST = """package b_test

import (
	"testing"

	"example.com/ident/a"
)

func TestKeys(t *testing.T) {
	seen := map[error]bool{a.Key(): true}
	if len(seen) != 1 {
		t.Fatal(seen)
	}
}
"""


def test_uses_and_identity_uses_across_packages_and_tests(toolchain: Toolchain, tmp_path: Path) -> None:
    root = module(tmp_path, "ident", {"a/a.go": IDENTITY_A, "b/b.go": IDENTITY_B, "b/b_test.go": IDENTITY_B_TEST})
    built = toolchain.run(["vet", "./..."], root)
    assert built.returncode == 0, built.stderr
    a, b, b_test = root / "a" / "a.go", root / "b" / "b.go", root / "b" / "b_test.go"

    def line_of(path: Path, text: str) -> int:
        return path.read_text().splitlines().index(text) + 1

    # Only package a is loaded, as `goescape fix ./a` would: the rest of its module is found for it.
    with Oracle(toolchain, root, ["./a"]) as oracle:

        def function(name: str) -> GoObject:
            start = span(a, f"func {name}")[0] + len("func ")
            obj = oracle.object_at(a, start, start + len(name))
            assert obj is not None and obj.kind == "func" and obj.key == f"example.com/ident/a.{name}"
            return obj

        key = function("Key")
        uses = oracle.uses(key, a)
        assert [(u.path, u.line, u.text) for u in uses] == [
            (b, line_of(b, "\tseen[a.Key()]++"), "Key"),
            (b_test, line_of(b_test, "\tseen := map[error]bool{a.Key(): true}"), "Key"),
        ]

        found = oracle.identity_uses(key, a)
        assert [(u.path, u.line, u.text) for u in found] == [
            (b, line_of(b, "\tseen[a.Key()]++"), "seen[a.Key()]"),
            (b_test, line_of(b_test, "\tseen := map[error]bool{a.Key(): true}"), "a.Key(): true"),
        ]

        assert oracle.identity_uses(function("Nilled"), a) == ()

        paired = oracle.identity_uses(function("Paired"), a)
        assert [(u.path, u.line, u.text) for u in paired] == [(b, line_of(b, "\treturn err == want"), "err == want")]

        assert oracle.identity_uses(function("Sentinel"), a) == ()


FOLLOWED_A = """package a

import "errors"

var errEmpty = errors.New("empty key")

type result struct{ Err error }

func Take() error { return errors.New("over quota") }

// Get returns the sentinel that Classify compares.
func Get() error { return errEmpty }

func Classify(err error) string {
	if err == errEmpty {
		return "get"
	}
	return "other"
}

func ViaField() bool {
	r := result{Err: Take()}
	s := result{}
	s.Err = Take()
	return r.Err == s.Err
}

func ViaArgument(seen map[error]int) { record(seen, Take()) }

func record(seen map[error]int, err error) { seen[err]++ }

func ViaElement() bool {
	errs := make([]error, 2)
	errs[0] = Take()
	return errs[0] != nil
}

func ViaClosure() func() error { return func() error { return Take() } }

func OnlyLogged() string { return Take().Error() }

type taker interface{ Fresh() error }

type impl struct{}

func (impl) Fresh() error { return errors.New("fresh") }

func ViaInterface(t taker) bool { return t.Fresh() == t.Fresh() }
"""


def test_identity_follows_fields_arguments_and_names_what_it_cannot_follow(
    toolchain: Toolchain, tmp_path: Path
) -> None:
    root = module(tmp_path, "followed", {"a/a.go": FOLLOWED_A})
    assert toolchain.run(["vet", "./..."], root).returncode == 0
    a = root / "a" / "a.go"
    with Oracle(toolchain, root, ["./..."]) as oracle:
        start = span(a, 'errors.New("over quota")')
        found = {(u.text, u.why) for u in oracle.identity_uses_of_value(a, *start)}
        assert ("r.Err == s.Err", "compared with ==") in found, found  # through a struct literal and a field
        assert ("seen[err]", "a map key") in found, found  # through a parameter of the module's own function
        assert any(why.startswith("stored in a map or slice element") for _, why in found), found
        assert any(why.startswith("returned from a closure") for _, why in found), found
        assert not any("Error()" in text for text, _ in found), found
        # A sentinel already declared: reusing it is seen through Classify's comparison.
        name = span(a, "errEmpty", "var ")
        reused = [(u.text, u.why) for u in oracle.identity_uses_of_value(a, *name)]
        assert ("err == errEmpty", "compared with ==") in reused, reused
        # A method's results reach callers through an interface that has a method of its name.
        fresh = [(u.text, u.why) for u in oracle.identity_uses_of_value(a, *span(a, 'errors.New("fresh")'))]
        assert ("t.Fresh() == t.Fresh()", "compared with ==") in fresh, fresh


GENERIC = """package g

type Stack[T any] struct {
	items [4]T
	n     int
}

func New[T any]() *Stack[T] { return &Stack[T]{} }

var S = New[int]()
"""


def test_a_type_whose_size_depends_on_a_type_parameter_has_no_size(toolchain: Toolchain, tmp_path: Path) -> None:
    root = module(tmp_path, "generic", {"g.go": GENERIC})
    g = root / "g.go"
    with Oracle(toolchain, root, ["./..."]) as oracle:
        generic = type_of(oracle, g, "&Stack[T]{}")
        assert generic is not None and generic.kind == "pointer" and generic.size == 8
        assert generic.elem is not None and generic.elem.size is None  # go/types would assert, not answer
        concrete = type_of(oracle, g, "New[int]()")
        assert concrete is not None and concrete.elem is not None and concrete.elem.size == 40


# --- struct layouts --------------------------------------------------------------------------


LAYOUT_A = """package a

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync/atomic"
	"unsafe"
)

type padded struct {
	ok   bool
	id   int64
	name string
	done bool
}

type tight struct {
	id   int64
	name string
	ok   bool
}

type unkeyed struct{ ok bool; id int64 }

type encoded struct{ OK bool; ID int64 }

type counted struct {
	ready bool
	hits  int64
}

type offset struct{ ok bool; id int64 }

type boxed struct{ ok bool; id int64 }

type generic struct{ ok bool; id int64 }

type sorted struct{ ok bool; id int64 }

type compared struct {
	ok  bool
	err error
}

type twin struct{ ok bool; id int64 }

type twin2 struct{ ok bool; id int64 }

type keyed struct{ ok bool; id int64 }

type Stack[T any] struct {
	ok    bool
	items []T
}

type held struct{ ok bool; id int64 }

func Make() []*held { return nil }

type ranged struct{ ok bool; id int64 }

type shown struct{ ok bool; id int64 }

func show[X any](x X) string { return fmt.Sprint(x) }

func more(rs []ranged) string {
	var v any
	for _, v = range rs {
	}
	return show(shown{}) + fmt.Sprint(v)
}

var (
	_ = unkeyed{true, 1}
	_ = slices.Index([]sorted{}, sorted{})
	_ = twin2(twin{})
	_ = map[keyed]int{}
)

func uses(c *counted, o offset, g generic, p compared) {
	_, _ = json.Marshal(&encoded{})
	atomic.AddInt64(&c.hits, 1)
	_ = unsafe.Offsetof(o.id)
	_ = slices.Clone([]generic{g})
	_ = p == compared{}
	_ = fmt.Sprint([]*boxed{nil})
}
"""


READS = "and reflection (fmt's %v, encoding/json) reads its fields in order"


def test_layout_sizes_order_and_where_the_order_shows(toolchain: Toolchain, tmp_path: Path) -> None:
    root = module(tmp_path, "layout", {"a/a.go": LAYOUT_A})
    assert toolchain.run(["vet", "./..."], root).returncode == 0
    a = root / "a" / "a.go"
    with Oracle(toolchain, root, ["./..."]) as oracle:

        def layout(name: str) -> Layout | None:
            return oracle.layout(a, *span(a, name, "type " + name), observe=True)

        padded = oracle.layout(a, *span(a, "padded", "type padded"))
        assert padded is not None and padded.observed == () and padded.api is None, "asked without observe"
        padded = layout("padded")
        assert padded is not None and padded.goarch == toolchain.run(["env", "GOARCH"], root).stdout.strip()
        if padded.word == 8:
            assert (padded.size, padded.align, padded.reordered_size) == (40, 8, 32)
            assert [(f.name, f.size, f.offset) for f in padded.fields] == [
                ("ok", 1, 0),
                ("id", 8, 8),
                ("name", 16, 16),
                ("done", 1, 32),
            ]
        assert padded.order == (1, 2, 0, 3), "by alignment, stable among equals"
        assert padded.pointers and padded.observed == () and padded.api is None and not padded.host_layout
        tight = layout("tight")
        assert tight is not None and tight.reordered_size == tight.size and tight.order == (0, 1, 2)

        def why(name: str) -> list[tuple[str, str]]:
            found = layout(name)
            assert found is not None
            return [(u.text, u.why) for u in found.observed]

        assert why("unkeyed") == [("unkeyed{true, 1}", "an unkeyed literal lists its values in field order")]
        assert [t for t, _ in why("encoded")] == ["&encoded{}"] and "encoding/json.Marshal" in why("encoded")[0][1]
        assert "sync/atomic.AddInt64 on a raw 64-bit field" in why("counted")[0][1]
        assert why("offset") == [("unsafe.Offsetof(o.id)", "unsafe.Offsetof reads a field's offset")]
        assert why("boxed")[0][0] == "[]*boxed{nil}", "a slice of pointers to it, printed, still shows it"
        assert why("sorted") == [], "slices never converts its type arguments to an interface"
        assert why("generic") == [], "slices.Clone's instantiation with []generic is safe too"
        assert [t for t, _ in why("compared")] == ["p == compared{}"], "an interface field, compared"
        assert [t for t, _ in why("twin")] == ["twin2(twin{})"] == [t for t, _ in why("twin2")]
        assert why("keyed") == [], "no interface in it: hashing it shows no order"
        assert oracle.layout(a, *span(a, "Stack", "type Stack")) is None, "a generic type has no one layout"
        assert why("ranged") == [("v", "ranged becomes any by a range assignment, " + READS)]
        assert [t for t, _ in why("shown")] == ["show"], "generic code of the module is not followed: it may print"
        held = layout("held")
        assert held is not None and held.api == ("Make", "func() []*held")
