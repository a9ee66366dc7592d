#!/usr/bin/env bash
# Builds the Kubernetes CSI sidecars that the e2e cluster runs, from their release tags on
# the Go module proxy (no container registry is reachable from CI), and caches the binaries.
#
#   test/e2e/sidecars/build.sh            build what is missing; print the bin directory
#
# Output: $QUARRY_TOOLS_DIR/sidecars/bin/<name>-<tag> (static binaries), and the VolumeSnapshot
# CRDs of client/v8 in $QUARRY_TOOLS_DIR/sidecars/crd-<tag>/. images.sh packages the binaries as
# images. The tags are the ones deploy/ pins (versions.sh), so the e2e runs what users run.
#
# Several sidecars carry `replace` directives in their go.mod, which `go install mod@version`
# refuses; so each is built inside a writable copy of its module. external-snapshotter replaces
# its client/v8 module with ./client, a directory the module zip does not carry (it is a module
# of its own): that replace is pointed at client/v8 of the same tag.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.sh
source "$here/versions.sh"

TOOLS="${QUARRY_TOOLS_DIR:-$HOME/.cache/quarry-tools}"
out="$TOOLS/sidecars"
bin="$out/bin"
mkdir -p "$bin" "$out/src"
# One build at a time: two runs would share the module copies under $out/src.
exec 9>"$out/.lock"
flock 9
# The same Go caches as build-cluster-tools.sh, so that CI keeps one set warm.
export GOMODCACHE="$TOOLS/go-mod" GOCACHE="$TOOLS/go-build"
export GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0

# module_dir MODULE@VERSION: downloads a module through the proxy and prints its directory.
module_dir() {
  go mod download -json "$1" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'
}

# writable_copy MODULE@VERSION NAME: a fresh writable copy of the module under $out/src.
writable_copy() {
  local dir dst="$out/src/$2"
  dir="$(module_dir "$1")"
  [[ -n "$dir" ]] || { echo "cannot download $1" >&2; return 1; }
  rm -rf "$dst"
  cp -r "$dir" "$dst"
  chmod -R u+w "$dst"
  printf '%s\n' "$dst"
}

# build NAME TAG MODULE PACKAGE...: builds each ./cmd/PACKAGE into $bin/PACKAGE-TAG unless cached.
build() {
  local name="$1" tag="$2" module="$3"; shift 3
  local missing=() pkg
  for pkg in "$@"; do [[ -x "$bin/$pkg-$tag" ]] || missing+=("$pkg"); done
  ((${#missing[@]})) || return 0
  local src
  src="$(writable_copy "$module@$tag" "$name-$tag")"
  if [[ "$name" == external-snapshotter ]]; then
    local client
    client="$(module_dir "github.com/kubernetes-csi/external-snapshotter/client/v8@$tag")"
    (cd "$src" && go mod edit -replace "github.com/kubernetes-csi/external-snapshotter/client/v8=$client")
  fi
  for pkg in "${missing[@]}"; do
    echo "building $pkg $tag" >&2
    (cd "$src" && go build -trimpath -ldflags "-s -w -X main.version=$tag" -o "$bin/$pkg-$tag.tmp" "./cmd/$pkg")
    mv "$bin/$pkg-$tag.tmp" "$bin/$pkg-$tag"
  done
  rm -rf "$src"
}

build external-provisioner "$PROVISIONER_TAG" github.com/kubernetes-csi/external-provisioner/v6 csi-provisioner
build external-attacher "$ATTACHER_TAG" github.com/kubernetes-csi/external-attacher/v4 csi-attacher
build external-resizer "$RESIZER_TAG" github.com/kubernetes-csi/external-resizer/v2 csi-resizer
build external-snapshotter "$SNAPSHOTTER_TAG" github.com/kubernetes-csi/external-snapshotter/v8 csi-snapshotter snapshot-controller

# The VolumeSnapshot and VolumeGroupSnapshot CRDs that snapshot-controller serves, from the client
# module of its tag.
crd="$out/crd-$SNAPSHOTTER_TAG"
if [[ ! -f "$crd/snapshot.storage.k8s.io_volumesnapshots.yaml" || ! -f "$crd/groupsnapshot.storage.k8s.io_volumegroupsnapshots.yaml" ]]; then
  client="$(module_dir "github.com/kubernetes-csi/external-snapshotter/client/v8@$SNAPSHOTTER_TAG")"
  mkdir -p "$crd"
  cp "$client"/config/crd/snapshot.storage.k8s.io_*.yaml "$client"/config/crd/groupsnapshot.storage.k8s.io_*.yaml "$crd/"
fi
printf '%s\n' "$bin"
