#!/usr/bin/env bash
# Render Quarry's install manifests (both kustomize overlays and the Helm
# chart in both modes) into dist/deploy/, for test/unit/deploy-render.test.ts.
#
# Installs pinned kustomize and helm with `go install` into a cache directory
# the first time: about 2.5 minutes on an idle 2-core machine with cold Go
# module and build caches (both installs run at once; helm is the long one),
# several minutes more on a busy machine; then about 1 s per run. Needs only
# Go and the Go module proxy.
#
#   bash test/deploy/render.sh
#
# Environment:
#   QUARRY_TOOLS_DIR  where the tools are cached (default ~/.cache/quarry-tools)
set -euo pipefail

KUSTOMIZE_VERSION=v5.8.2   # v5.8.3 needs go >= 1.27
HELM_VERSION=v3.22.0
KUBE_VERSION=1.34.0        # for `helm template` (the chart needs >= 1.34)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="$ROOT/dist/deploy"
TOOLS="${QUARRY_TOOLS_DIR:-$HOME/.cache/quarry-tools}"

log() { printf 'render.sh: %s\n' "$*" >&2; }

tool_path() { printf '%s/%s-%s/%s\n' "$TOOLS" "$1" "$2" "$1"; }

install_tool() { # name version module-path
  local name=$1 version=$2 module=$3
  local bin
  bin=$(tool_path "$name" "$version")
  [[ -x "$bin" ]] && return 0
  command -v go >/dev/null || { log "go is required to install $name $version"; return 1; }
  log "installing $name $version (go install $module@$version)"
  local start=$SECONDS tmp
  tmp=$(mktemp -d "$TOOLS/.install-$name.XXXXXX")
  # Install into a temporary directory, then rename: an interrupted install
  # never leaves a half-written binary that a later run would trust.
  if ! GOFLAGS="${GOFLAGS:--buildvcs=false}" GOBIN="$tmp" go install "$module@$version"; then
    rm -rf "$tmp"; log "go install $module@$version failed"; return 1
  fi
  mkdir -p "$(dirname "$bin")"
  mv "$tmp/$name" "$bin"
  rm -rf "$tmp"
  log "installed $name $version in $((SECONDS - start))s"
}

mkdir -p "$TOOLS"
# Both installs at once: on a cold machine the module downloads overlap.
install_tool kustomize "$KUSTOMIZE_VERSION" sigs.k8s.io/kustomize/kustomize/v5 & k_pid=$!
install_tool helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm & h_pid=$!
k_rc=0; h_rc=0
wait "$k_pid" || k_rc=$?
wait "$h_pid" || h_rc=$?
if (( k_rc != 0 || h_rc != 0 )); then log "tool installation failed"; exit 1; fi
KUSTOMIZE=$(tool_path kustomize "$KUSTOMIZE_VERSION")
HELM=$(tool_path helm "$HELM_VERSION")

rm -rf "$OUT"
mkdir -p "$OUT"

"$KUSTOMIZE" build "$ROOT/deploy/kubernetes/overlays/local" > "$OUT/kustomize-local.yaml"
"$KUSTOMIZE" build "$ROOT/deploy/kubernetes/overlays/shared" > "$OUT/kustomize-shared.yaml"
# The top-level kustomization (the one-command default install) is local mode.
"$KUSTOMIZE" build "$ROOT/deploy/kubernetes" > "$OUT/kustomize-default.yaml"

CHART="$ROOT/deploy/helm/quarry"
# Helm keeps its caches under HOME; keep them out of the way.
export HELM_CACHE_HOME="$TOOLS/helm-home/cache" HELM_CONFIG_HOME="$TOOLS/helm-home/config" HELM_DATA_HOME="$TOOLS/helm-home/data"
# The kustomize overlays are generated from the chart: refuse stale ones.
HELM="$HELM" bash "$ROOT/deploy/generate-kustomize.sh" --check
# The chart README is generated from values.schema.json and values.yaml.
node "$ROOT/deploy/helm/gen-readme.mjs" --check
"$HELM" lint --strict --quiet "$CHART" >&2
"$HELM" lint --strict --quiet "$CHART" --set mode=shared >&2
NS=(--namespace quarry-system)
"$HELM" template quarry "$CHART" "${NS[@]}" --kube-version "$KUBE_VERSION" > "$OUT/helm-local.yaml"
"$HELM" template quarry "$CHART" "${NS[@]}" --kube-version "$KUBE_VERSION" --set mode=shared > "$OUT/helm-shared.yaml"
# The optional objects: StorageClasses, the VolumeSnapshotClass, the VolumeGroupSnapshotClass, a VolumeAttributesClass.
"$HELM" template quarry "$CHART" "${NS[@]}" --kube-version "$KUBE_VERSION" \
  --set metrics.podMonitor.enabled=true \
  --set kubeletDir=/var/lib/k0s/kubelet \
  --set resources.quarryNode.limits.cpu=2 \
  --set-json 'extraArgs={"quarry":["--log-level=debug"],"resizer":["--kube-api-qps=20"]}' \
  --set-json 'controller.podAnnotations={"example.com/a":"1"}' \
  --set-json 'storageClasses=[{"name":"quarry-local","parameters":{"pool":"default","csi.storage.k8s.io/fstype":"xfs","provisioning":"thin"}}]' \
  --set volumeSnapshotClass.create=true \
  --set volumeGroupSnapshotClass.create=true \
  --set-json 'volumeAttributesClasses=[{"name":"quarry-thick","parameters":{"provisioning":"thick"}}]' \
  --set driverName=example.quarry.csi.dev \
  --set image.digest=sha256:0000000000000000000000000000000000000000000000000000000000000000 \
  > "$OUT/helm-extras.yaml"

# Charts that must refuse to render: an unpinned image; a misspelt value (values.schema.json).
if "$HELM" template quarry "$CHART" --kube-version "$KUBE_VERSION" --set image.tag=latest >/dev/null 2>&1; then
  log "the chart rendered image.tag=latest; it must refuse"; exit 1
fi
if "$HELM" template quarry "$CHART" --kube-version "$KUBE_VERSION" --set kubeletdir=/x >/dev/null 2>&1; then
  log "the chart rendered an unknown value (kubeletdir); values.schema.json must refuse it"; exit 1
fi

log "rendered: $(cd "$OUT" && echo *.yaml)"
