#!/usr/bin/env bash
# Builds the local Kubernetes control plane that flyt's tests, benchmarks and demo run against:
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd and kwok, all from the Go
# module proxy, into a cache outside the repository (one folder per version set, named as
# internal/testenv/controlplane.Dir names it). Idempotent: a complete cache folder is left alone.
# Prints the folder on stdout; progress goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
tools="$here/internal/testenv/controlplane/tools"
# shellcheck source=../internal/testenv/controlplane/versions.env
. "$here/internal/testenv/controlplane/versions.env"

cache_root=${FLYT_CONTROLPLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/flyt/controlplane}
dir=${FLYT_CONTROLPLANE_DIR:-$cache_root/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION}

if [ -f "$dir/.complete" ]; then
  echo "$dir"
  exit 0
fi
mkdir -p "$dir/bin"
log() { echo "controlplane: $*" >&2; }
total=$SECONDS

build() { # name module-dir package
  if [ -x "$dir/bin/$1" ]; then log "$1 cached"; return; fi
  log "building $1 (minutes the first time)"
  local start=$SECONDS
  (cd "$2" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$dir/bin/$1.tmp" "$3")
  mv "$dir/bin/$1.tmp" "$dir/bin/$1"
  log "built $1 in $((SECONDS - start))s"
}

build etcd "$tools/etcd" .
build kube-apiserver "$tools" k8s.io/kubernetes/cmd/kube-apiserver
build kube-controller-manager "$tools" k8s.io/kubernetes/cmd/kube-controller-manager
build kube-scheduler "$tools" k8s.io/kubernetes/cmd/kube-scheduler
build kubectl "$tools" k8s.io/kubernetes/cmd/kubectl
if [ ! -x "$dir/bin/kwok" ]; then
  log "building kwok"
  GOBIN="$dir/bin" CGO_ENABLED=0 go install -trimpath -ldflags='-s -w' "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
fi
touch "$dir/.complete"
log "control plane ready in $dir ($((SECONDS - total))s)"
echo "$dir"
