#!/usr/bin/env bash
# Builds Dex, the OpenID provider flyt's tests log in through, from the Go module proxy into a
# cache outside the repository (one folder per version, as internal/testenv/dex.Path names it).
# Idempotent: a built binary is left alone. Prints the binary's path on stdout; progress on stderr.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
tools="$here/internal/testenv/dex/tools"
# shellcheck source=../internal/testenv/dex/versions.env
. "$here/internal/testenv/dex/versions.env"

cache_root=${FLYT_DEX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/flyt/dex}
bin=$cache_root/$DEX_VERSION/dex

if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$(dirname "$bin")"
echo "dex: building $DEX_VERSION (a few minutes the first time)" >&2
start=$SECONDS
(cd "$tools" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$bin.tmp" github.com/dexidp/dex/cmd/dex)
mv "$bin.tmp" "$bin"
echo "dex: built in $((SECONDS - start))s" >&2
echo "$bin"
