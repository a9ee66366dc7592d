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

# export_archive NAME FILE: writes NAME as an OCI image archive that `ctr images import` names
# NAME. ctr takes the full name from the index's io.containerd.image.name annotation; OCI's own
# ref.name carries only the tag, as the OCI layout defines it. So the layout is written as a
# directory, its index annotated, then archived.
export_archive() {
  local name="$1" file="$2" dir
  dir="$(mktemp -d "$IMAGE_DIR/export.XXXXXX")"
  bh push --quiet "$name" "oci:$dir/layout:$name"
  NAME="$name" node -e '
    const fs = require("node:fs");
    const path = process.argv[1];
    const index = JSON.parse(fs.readFileSync(path, "utf8"));
    const name = process.env.NAME;
    for (const m of index.manifests) {
      m.annotations = { ...m.annotations, "io.containerd.image.name": name, "org.opencontainers.image.ref.name": name.slice(name.lastIndexOf(":") + 1) };
    }
    fs.writeFileSync(path, JSON.stringify(index));' "$dir/layout/index.json"
  tar -C "$dir/layout" -cf "$file.tmp" oci-layout index.json blobs
  rm -rf "$dir"
  mv "$file.tmp" "$file"
}
