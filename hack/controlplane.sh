#!/usr/bin/env bash
# Builds the local Kubernetes control plane that flyt's tests, benchmarks and demo run against:
# kube-apiserver, kube-controller-manager, kube-scheduler, etcd and kwok, all from the Go module
# proxy, into a cache outside the repository (one folder per version set). Idempotent: a complete
# cache folder is left alone. Prints the folder on stdout.
set -euo pipefail

K8S_VERSION=1.37.2
ETCD_VERSION=3.6.16
KWOK_VERSION=0.8.0

here=$(cd "$(dirname "$0")/.." && pwd)
tools="$here/internal/controlplane/tools"
cache_root=${FLYT_CONTROLPLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/flyt/controlplane}
dir="$cache_root/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION"

if [ -f "$dir/.complete" ]; then
  echo "$dir"
  exit 0
fi
mkdir -p "$dir/bin" "$dir/kwok-stages"
log() { echo "controlplane: $*" >&2; }

build() { # name module-dir package
  if [ -x "$dir/bin/$1" ]; then log "$1 cached"; return; fi
  log "building $1 (this takes minutes the first time)"
  local start=$SECONDS
  (cd "$2" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$dir/bin/$1.tmp" "$3")
  mv "$dir/bin/$1.tmp" "$dir/bin/$1"
  log "built $1 in $((SECONDS - start))s"
}

build etcd "$tools/etcd" .
build kube-apiserver "$tools" k8s.io/kubernetes/cmd/kube-apiserver
build kube-controller-manager "$tools" k8s.io/kubernetes/cmd/kube-controller-manager
build kube-scheduler "$tools" k8s.io/kubernetes/cmd/kube-scheduler
if [ ! -x "$dir/bin/kwok" ]; then
  log "building kwok"
  GOBIN="$dir/bin" CGO_ENABLED=0 go install -trimpath -ldflags='-s -w' "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
fi

# kwok refuses to start without stage configs; they ship in its module.
kwokdir=$(cd "$tools" && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/kwok@v$KWOK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
for f in node/fast/node-initialize.yaml node/heartbeat/node-heartbeat-with-lease.yaml \
  pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
  if [ -f "$kwokdir/kustomize/stage/$f" ]; then
    cp "$kwokdir/kustomize/stage/$f" "$dir/kwok-stages/$(echo "$f" | tr / _)"
  else
    log "warning: $f not found in kwok module"; ls "$kwokdir/kustomize/stage/$(dirname "$f")" >&2 || true
  fi
done
chmod -R u+w "$dir/kwok-stages"
touch "$dir/.complete"
echo "$dir"
