#!/usr/bin/env bash
# Builds Quarry's image from the project's own Dockerfile, with buildah and the base images that
# base-images.sh makes locally (no registry is reachable), and exports it as an oci-archive that
# `ctr -n k8s.io images import` names as deploy/ does (ghcr.io/quarry-csi/quarry:<version>).
#
#   test/e2e/image/build-quarry.sh      prints the path of the archive
#
# The archive is cached by a hash of everything that enters the build (the Dockerfile and the
# files .dockerignore lets in), so an unchanged tree is not built twice.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"

version="$(node -p "require('$repo/package.json').version")"
QUARRY_IMAGE="ghcr.io/quarry-csi/quarry:$version"

bash "$here/base-images.sh" >/dev/null
exec 9>"$IMAGE_DIR/.quarry.lock"
flock 9

# The build context as .dockerignore admits it; src/wire/generated is made again inside the build.
hash="$(cd "$repo" && find Dockerfile .dockerignore package.json package-lock.json tsconfig.json proto src \
          -type f ! -path 'src/wire/generated/*' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
archive="$ARCHIVES/quarry-$version-$hash.oci.tar"
if [[ ! -f "$archive" ]]; then
  echo "building $QUARRY_IMAGE from the Dockerfile (context $hash)" >&2
  log="$IMAGE_DIR/build-quarry.log"
  # This machine reaches the npm registry through a TLS-intercepting proxy whose CA only the
  # host's bundle holds: the Dockerfile's build stage takes it as NODE_EXTRA_CA_CERTS.
  ca=()
  host_ca="${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}"
  [[ -f "$host_ca" ]] && ca=(-v "$host_ca:/run/build-ca.crt:ro" --build-arg NODE_EXTRA_CA_CERTS=/run/build-ca.crt)
  if ! (cd "$repo" && bh bud --pull=never --isolation chroot --layers=false "${ca[@]}" \
          -f Dockerfile -t "$QUARRY_IMAGE" . >"$log" 2>&1); then
    tail -n 40 "$log" >&2
    exit 1
  fi
  export_archive "$QUARRY_IMAGE" "$archive"
  # Earlier builds of the tag and the build stage are unnamed now: vfs keeps whole copies of them.
  bh rmi --prune >/dev/null 2>&1 || true
fi
# Exactly one archive of this image: the cluster imports every archive, and the last one of a name wins.
for f in "$ARCHIVES"/quarry-*.oci.tar; do [[ "$f" == "$archive" ]] || rm -f "$f"; done
printf '%s\n' "$archive"
