#!/usr/bin/env bash
# Build a real Gitea server binary from the Go module proxy, for forge tests.
#
#   tests/forge/build_gitea.sh [CACHE_DIR]      (default: $GOESCAPE_TEST_GITEA_CACHE, else ~/.cache/goescape-test/gitea)
#
# Result: CACHE_DIR/gitea-<version> plus a symlink CACHE_DIR/gitea.  Idempotent:
# if the binary already exists and runs, nothing is rebuilt.
#
# Environment knobs:
#   GITEA_VERSION  module version to build          (default v1.26.0; see below why not 1.27)
#   GO             go command                       (default: `go` on PATH, else /usr/local/go/bin/go)
#   GOTOOLCHAIN    left as-is; gitea v1.26.0 needs go >= 1.26.2 (with the default
#                  GOTOOLCHAIN=auto an older go fetches that toolchain from the proxy)
#
# Why v1.26.0 and not v1.27.x: from 1.27 gitea requires gitea.dev/actions-proto-go,
# gitea.dev/sdk and gitea.com/gitea/runner, which proxy.golang.org does not serve
# ("403 Forbidden" / "This module version is not available").
#
# Why not `go install code.gitea.io/gitea@vX`: gitea's go.mod has replace
# directives (go install refuses those) and, since 1.27, declares its module
# path as `gitea.dev` while the proxy serves it as code.gitea.io/gitea, so it
# can't be required by a wrapper module either.  Instead the module zip is
# fetched with `go mod download`, copied to a writable directory, and built
# there as the main module (so its own replace directives apply).
#
# Build: tag `bindata` so templates/options/migration schemas are embedded and the
# binary is self-contained.  SQLite: pure Go (CGO_ENABLED=0) when the version uses
# modernc.org/sqlite (>= 1.27), else tags `sqlite sqlite_unlock_notify` with
# CGO_ENABLED=1 and gcc (1.26 and older).  The frontend (JS/CSS, built with pnpm/vite) is NOT
# built: the web UI is unstyled, but the REST API and git smart-HTTP work.
set -euo pipefail

die() { echo "build_gitea.sh: ERROR: $*" >&2; exit 1; }

# ticking CMD...: run CMD, printing "still running (Ns)" every 30 s so a long step is never silent
# (on fd 3, the script's own stderr, so that a captured command's output stays clean).
exec 3>&2
ticking() {
    local started=$SECONDS
    ( while sleep 30; do echo "    ... still running ($(( SECONDS - started ))s)" >&3; done ) &
    local ticker=$!
    local rc=0
    "$@" || rc=$?
    kill "$ticker" 2>/dev/null; wait "$ticker" 2>/dev/null || true
    return "$rc"
}

VERSION="${GITEA_VERSION:-v1.26.0}"
CACHE="${1:-${GOESCAPE_TEST_GITEA_CACHE:-$HOME/.cache/goescape-test/gitea}}"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
[ -x "$GO" ] || die "no go toolchain found (set GO=/path/to/go)"

mkdir -p "$CACHE"
CACHE="$(cd "$CACHE" && pwd)"
BIN="$CACHE/gitea-$VERSION"
start=$(date +%s)

if [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; then
    ln -sfn "gitea-$VERSION" "$CACHE/gitea"
    echo "gitea $VERSION already built: $BIN ($("$BIN" --version))"
    echo "build_gitea.sh: took 0s (cached)"
    exit 0
fi

# Run go outside of any enclosing module; don't let a caller's GOFLAGS (e.g.
# -mod=vendor) or a workspace file interfere.
export GO111MODULE=on GOWORK=off GOFLAGS="-mod=mod -buildvcs=false"
WORK="$(mktemp -d "$CACHE/build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

echo "==> go mod download code.gitea.io/gitea@$VERSION"
t0=$(date +%s)
json="$(ticking "$GO" mod download -json "code.gitea.io/gitea@$VERSION" 2>&1)" \
    || die "go mod download code.gitea.io/gitea@$VERSION failed:
$json"
dir="$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
[ -n "$dir" ] && [ -f "$dir/main.go" ] || die "go mod download gave no source dir:
$json"
echo "    source: $dir ($(du -sh "$dir" | cut -f1)), took $(( $(date +%s) - t0 ))s"

echo "==> copying source to $WORK/src"
cp -r "$dir" "$WORK/src"
chmod -R u+w "$WORK/src"
cd "$WORK/src"

# SQLite driver: gitea >= 1.27 defaults to pure-Go modernc.org/sqlite (no cgo);
# older versions (e.g. 1.26) only have mattn/go-sqlite3 behind the tags
# `sqlite sqlite_unlock_notify`, which needs cgo and a C compiler.
SQLITE_TAGS=""
if grep -q 'modernc.org/sqlite ' go.mod; then
    export CGO_ENABLED=0
else
    SQLITE_TAGS="sqlite sqlite_unlock_notify"
    export CGO_ENABLED=1
    command -v "${CC:-gcc}" >/dev/null \
        || die "gitea $VERSION needs cgo for SQLite (mattn/go-sqlite3) but no C compiler (${CC:-gcc}) was found"
fi

TAGS="bindata${SQLITE_TAGS:+ $SQLITE_TAGS}"

echo "==> downloading the dependencies the build needs (go list -deps)"
t0=$(date +%s)
ticking "$GO" list -deps -tags "$SQLITE_TAGS" . >/dev/null \
    || die "downloading gitea $VERSION's dependencies failed (see above)"
echo "    took $(( $(date +%s) - t0 ))s"

echo "==> go generate (bindata)"
t0=$(date +%s)
"$GO" generate -tags bindata ./modules/options ./modules/public ./modules/templates ./modules/migration \
    || die "go generate of gitea bindata failed (see above)"
echo "    took $(( $(date +%s) - t0 ))s"

echo "==> go build -tags '$TAGS' (CGO_ENABLED=$CGO_ENABLED)"
t0=$(date +%s)
ticking "$GO" build -trimpath -tags "$TAGS" \
    -ldflags "-s -w -X main.Version=${VERSION#v} -X 'main.Tags=$TAGS'" \
    -o "$WORK/gitea" . || die "go build of gitea $VERSION failed (see above)"
echo "    took $(( $(date +%s) - t0 ))s"

"$WORK/gitea" --version || die "built binary does not run"
mv -f "$WORK/gitea" "$BIN"
ln -sfn "gitea-$VERSION" "$CACHE/gitea"
echo "built $BIN ($(du -h "$BIN" | cut -f1))"
echo "build_gitea.sh: took $(( $(date +%s) - start ))s"
