#!/usr/bin/env bash
# Renders what the e2e applies, on stdout:
#
#   render.sh local                 kubectl apply -k deploy/kubernetes             (docs/install.md §3)
#   render.sh shared                kubectl apply -k deploy/kubernetes/overlays/shared
#   render.sh helm-local            the labelled namespace, then helm install quarry deploy/helm/quarry -n quarry-system
#   render.sh helm-shared           the same with --set mode=shared
#   render.sh snapshot-crds         the VolumeSnapshot and VolumeGroupSnapshot CRDs of external-snapshotter client/v8
#   render.sh snapshot-controller   the cluster's snapshot-controller (snapshot-controller.yaml)
#
# Quarry's installs are rendered exactly as the admin guide has them applied, then patched only as
# this sandbox forces; sandbox-patches.ts names each patch and its reason, and the output's header
# repeats them. Needs `npm run build` (the patcher is compiled TypeScript).
#
# Environment: E2E_API_SERVER (default 127.0.0.1:6443), E2E_STAND_IN_IMAGE (default
# quarry.local/sidecar-stand-ins:e2e), QUARRY_TOOLS_DIR.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
TOOLS="${QUARRY_TOOLS_DIR:-$HOME/.cache/quarry-tools}"
what="${1:?usage: render.sh local|shared|helm-local|helm-shared|snapshot-crds|snapshot-controller}"

# kustomize and helm at the versions test/deploy/render.sh pins (it installs them when missing).
pinned() { sed -n "s/^$1=\(v[0-9.]*\).*/\1/p" "$repo/test/deploy/render.sh"; }
KUSTOMIZE="$TOOLS/kustomize-$(pinned KUSTOMIZE_VERSION)/kustomize"
HELM="$TOOLS/helm-$(pinned HELM_VERSION)/helm"
KUBE_VERSION="$(sed -n 's/^KUBE_VERSION=\([0-9.]*\).*/\1/p' "$repo/test/deploy/render.sh")"
tools() {
  if [[ ! -x "$KUSTOMIZE" || ! -x "$HELM" ]]; then bash "$repo/test/deploy/render.sh" >&2; fi
  export HELM_CACHE_HOME="$TOOLS/helm-home/cache" HELM_CONFIG_HOME="$TOOLS/helm-home/config" HELM_DATA_HOME="$TOOLS/helm-home/data"
}

# The namespace that docs/install.md has admins make before `helm install -n quarry-system`
# (the chart creates none), with its Pod Security label.
helm_namespace() {
  printf '%s\n' 'apiVersion: v1' 'kind: Namespace' 'metadata:' '  name: quarry-system' '  labels:' \
    '    pod-security.kubernetes.io/enforce: privileged' '---'
}

# patch FIRST_PORT: the sandbox patches, stdin to stdout. Each render gets its own port range.
patch() {
  node "$repo/dist/test/e2e/install/patch.js" \
    --api-server "${E2E_API_SERVER:-127.0.0.1:6443}" \
    --stand-in-image "${E2E_STAND_IN_IMAGE:-quarry.local/sidecar-stand-ins:e2e}" \
    --first-port "$1"
}

case "$what" in
  local) tools; "$KUSTOMIZE" build "$repo/deploy/kubernetes" | patch 19800 ;;
  shared) tools; "$KUSTOMIZE" build "$repo/deploy/kubernetes/overlays/shared" | patch 19800 ;;
  # The PodMonitor option on: the cluster has a stand-in for its CRD (podmonitor-crd.yaml).
  helm-local) tools; { helm_namespace; "$HELM" template quarry "$repo/deploy/helm/quarry" -n quarry-system --kube-version "$KUBE_VERSION" \
    --set metrics.podMonitor.enabled=true; } | patch 19800 ;;
  helm-shared) tools; { helm_namespace; "$HELM" template quarry "$repo/deploy/helm/quarry" -n quarry-system --kube-version "$KUBE_VERSION" --set mode=shared; } | patch 19800 ;;
  snapshot-crds)
    # shellcheck source=../sidecars/versions.sh
    source "$repo/test/e2e/sidecars/versions.sh"
    crd="$TOOLS/sidecars/crd-$SNAPSHOTTER_TAG"
    [[ -f "$crd/groupsnapshot.storage.k8s.io_volumegroupsnapshots.yaml" ]] || bash "$repo/test/e2e/sidecars/build.sh" >&2
    for f in "$crd"/snapshot.storage.k8s.io_*.yaml "$crd"/groupsnapshot.storage.k8s.io_*.yaml; do printf -- '---\n'; cat "$f"; done ;;
  snapshot-controller) patch 19900 <"$here/snapshot-controller.yaml" ;;
  *) echo "render.sh: unknown install \"$what\"" >&2; exit 2 ;;
esac
