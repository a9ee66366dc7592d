# Shared settings of the image scripts (sourced). Under $QUARRY_TOOLS_DIR/image: buildah's own
# storage (vfs: no overlay or fuse needed) and the cached root filesystem. The exported image
# archives go to $E2E_IMAGES, whose every *.tar the e2e cluster imports with
# `ctr -n k8s.io images import`.
TOOLS="${QUARRY_TOOLS_DIR:-$HOME/.cache/quarry-tools}"
IMAGE_DIR="$TOOLS/image"
ARCHIVES="${E2E_IMAGES:-$TOOLS/e2e-images}"
mkdir -p "$IMAGE_DIR" "$ARCHIVES"

# The Dockerfile's base images, made here rather than pulled: no registry is reachable from CI.
DEBIAN_RELEASE=bookworm
NODE_MAJOR=24
NODE_BUILD_IMAGE="docker.io/library/node:$NODE_MAJOR-$DEBIAN_RELEASE"
NODE_RUNTIME_IMAGE="docker.io/library/node:$NODE_MAJOR-$DEBIAN_RELEASE-slim"
# The root filesystem under Node.js.
DEBIAN_IMAGE="docker.io/library/debian:$DEBIAN_RELEASE-slim"

# buildah with its storage under the cache, never the machine's default store.
bh() {
  buildah --root "$IMAGE_DIR/storage" --runroot "$IMAGE_DIR/run" --storage-driver vfs "$@"
}

# has_image NAME: true when buildah's store holds NAME.
has_image() {
  bh inspect --type image "$1" >/dev/null 2>&1
}

# export_archive NAME FILE: writes NAME as an oci-archive that `ctr images import` names NAME.
export_archive() {
  rm -f "$2.tmp"
  bh push --quiet "$1" "oci-archive:$2.tmp:$1"
  mv "$2.tmp" "$2"
}
