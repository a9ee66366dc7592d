#!/usr/bin/env bash
# Packages the sidecars that build.sh made as images named as deploy/ names them
# (registry.k8s.io/sig-storage/<name>:<tag>), one static binary each, and exports each as an
# oci-archive into $E2E_IMAGES for `ctr -n k8s.io images import`. Cached: an archive that exists
# is not made again. Prints the archive directory.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.sh
source "$here/versions.sh"
# shellcheck source=../image/lib.sh
source "$here/../image/lib.sh"

bin="$(bash "$here/build.sh")"
exec 9>"$IMAGE_DIR/.sidecars.lock"
flock 9

# image NAME TAG: a scratch image whose entrypoint is the static binary NAME-TAG.
image() {
  local name="$1" tag="$2" ref="$SIDECAR_REGISTRY/$1:$2"
  local archive="$ARCHIVES/$name-$tag.oci.tar"
  [[ -f "$archive" ]] && return 0
  local c
  c="$(bh from --pull=never --quiet scratch)"
  bh copy --quiet "$c" "$bin/$name-$tag" "/$name" >/dev/null
  # The upstream images run as root too: the driver's socket is root's alone (mode 0600).
  bh config --entrypoint "[\"/$name\"]" "$c"
  bh commit --quiet --rm "$c" "$ref" >/dev/null
  export_archive "$ref" "$archive"
  bh rmi "$ref" >/dev/null
}

image csi-provisioner "$PROVISIONER_TAG"
image csi-attacher "$ATTACHER_TAG"
image csi-resizer "$RESIZER_TAG"
image csi-snapshotter "$SNAPSHOTTER_TAG"
image snapshot-controller "$SNAPSHOTTER_TAG"
printf '%s\n' "$ARCHIVES"
