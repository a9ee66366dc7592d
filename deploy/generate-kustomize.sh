#!/usr/bin/env bash
# One source of truth for both install methods: the kustomize overlays are
# rendered from the Helm chart. Edit deploy/helm/quarry, then run
#
#   bash deploy/generate-kustomize.sh            # rewrites deploy/kubernetes/overlays/*/quarry.yaml
#   bash deploy/generate-kustomize.sh --check    # exits 1 if they are stale (CI runs this)
#
# To render overlays for another kubelet root directory (k0s, microk8s) into
# a directory of your own, pass chart values:
#
#   bash deploy/generate-kustomize.sh --out /tmp/quarry-k0s --set kubeletDir=/var/lib/k0s/kubelet
#
# Environment: HELM (default: the pinned helm that test/deploy/render.sh
# installs under ${QUARRY_TOOLS_DIR:-~/.cache/quarry-tools}).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${QUARRY_TOOLS_DIR:-$HOME/.cache/quarry-tools}"
HELM="${HELM:-$TOOLS/helm-v3.22.0/helm}"
KUBE_VERSION=1.34.0
NAMESPACE=quarry-system
OUT="$ROOT/deploy/kubernetes"
CHECK=0
VALUES=()
while (($#)); do
  case $1 in
    --check) CHECK=1 ;;
    --out) OUT=$2; shift ;;
    --set | --set-string | --set-json | -f | --values) VALUES+=("$1" "$2"); shift ;;
    *) echo "generate-kustomize.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
export HELM_CACHE_HOME="$TOOLS/helm-home/cache" HELM_CONFIG_HOME="$TOOLS/helm-home/config" HELM_DATA_HOME="$TOOLS/helm-home/data"

render() { # mode file
  {
    echo "# GENERATED from deploy/helm/quarry by deploy/generate-kustomize.sh (mode=$1)."
    echo "# Do not edit: change the chart and run the script again."
    "$HELM" template quarry "$ROOT/deploy/helm/quarry" --namespace "$NAMESPACE" \
      --kube-version "$KUBE_VERSION" --set mode="$1" "${VALUES[@]}"
  } > "$2"
}

if ((CHECK)); then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  stale=0
  for mode in local shared; do
    render "$mode" "$tmp/$mode.yaml"
    if ! diff -u "$ROOT/deploy/kubernetes/overlays/$mode/quarry.yaml" "$tmp/$mode.yaml" >&2; then stale=1; fi
  done
  if ((stale)); then
    echo "generate-kustomize.sh: deploy/kubernetes/overlays is stale: run bash deploy/generate-kustomize.sh" >&2
    exit 1
  fi
  exit 0
fi

for mode in local shared; do
  mkdir -p "$OUT/overlays/$mode"
  render "$mode" "$OUT/overlays/$mode/quarry.yaml"
done
