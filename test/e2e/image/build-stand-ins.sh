#!/usr/bin/env bash
# Builds the image of the sidecar stand-ins (test/e2e/registrar: node-driver-registrar and
# livenessprobe, which cannot be had here): Quarry's image plus the compiled stand-ins, which
# reuse its Node.js, its grpc-js and its CSI client. Test code only; never part of Quarry's image.
# Exports quarry.local/sidecar-stand-ins:e2e into $E2E_IMAGES; prints the archive path.
# Needs `npm run build` (dist/test/e2e/registrar) and build-quarry.sh's image.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"
STAND_IN_IMAGE="${E2E_STAND_IN_IMAGE:-quarry.local/sidecar-stand-ins:e2e}"

quarry_archive="$(bash "$here/build-quarry.sh")"
exec 9>"$IMAGE_DIR/.quarry.lock"
flock 9

compiled="$repo/dist/test/e2e/registrar"
[[ -f "$compiled/registrar.js" ]] || { echo "build-stand-ins.sh: run npm run build first" >&2; exit 1; }
# Rebuilt whenever Quarry's image or the stand-ins change.
hash="$( (basename "$quarry_archive"; cat "$compiled"/*.js "$repo/test/e2e/registrar/registration.proto") | sha256sum | cut -c1-16)"
archive="$ARCHIVES/sidecar-stand-ins-$hash.oci.tar"
if [[ ! -f "$archive" ]]; then
  quarry_image="ghcr.io/quarry-csi/quarry:$(node -p "require('$repo/package.json').version")"
  c="$(bh from --pull=never --quiet "$quarry_image")"
  trap 'bh rm "$c" >/dev/null 2>&1 || true' EXIT
  for f in "$compiled"/*.js; do
    [[ "$f" == *.test.js ]] || bh copy --quiet "$c" "$f" /opt/quarry/dist/test/e2e/registrar/ >/dev/null
  done
  bh copy --quiet "$c" "$repo/test/e2e/registrar/registration.proto" /opt/quarry/test/e2e/registrar/ >/dev/null
  bh config --cmd '' --entrypoint '["node"]' --label org.opencontainers.image.title=quarry-sidecar-stand-ins "$c"
  bh commit --quiet --rm "$c" "$STAND_IN_IMAGE" >/dev/null
  trap - EXIT
  export_archive "$STAND_IN_IMAGE" "$archive"
  # The previous build of the tag is unnamed now: vfs keeps a whole copy of it.
  bh rmi --prune >/dev/null 2>&1 || true
fi
# Exactly one archive of this image: the cluster imports every archive, and the last one of a name wins.
for f in "$ARCHIVES"/sidecar-stand-ins-*.oci.tar; do [[ "$f" == "$archive" ]] || rm -f "$f"; done
printf '%s\n' "$archive"
