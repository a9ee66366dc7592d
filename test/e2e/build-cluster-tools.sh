#!/usr/bin/env bash
# Builds (once, then cached) what the one-node e2e cluster runs: Kubernetes v1.34.4 server binaries
# and kubectl from the Go module proxy, and the Debian packages for etcd and the container runtime.
# Usage: build-cluster-tools.sh   (prints the directory holding the binaries on its last line)
# Kubernetes is not `go install`-able (its go.mod replaces ./staging modules), so a small wrapper
# module requires k8s.io/kubernetes and points every staging module at its published v0.x twin.
set -euo pipefail

K8S_VERSION=v1.34.4
STAGING_VERSION=v0.34.4
TOOLS="${QUARRY_TOOLS_DIR:-$HOME/.cache/quarry-tools}"
OUT="$TOOLS/k8s-$K8S_VERSION"
WRAP="$TOOLS/k8s-wrapper-$K8S_VERSION"
export GOMODCACHE="$TOOLS/go-mod" GOCACHE="$TOOLS/go-build" GOFLAGS="-buildvcs=false -mod=mod"
export GOTOOLCHAIN=local CGO_ENABLED=0

PACKAGES=(etcd-server containerd runc iptables conntrack socat ebtables ethtool iproute2 openssl)
if ! dpkg -s "${PACKAGES[@]}" >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
fi
# The packaged services must not run on their own: the harness starts its own instances.
for unit in etcd containerd; do
  if command -v systemctl >/dev/null && systemctl is-active -q "$unit" 2>/dev/null; then systemctl stop "$unit" || true; fi
done

BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)
missing=()
for b in "${BINARIES[@]}"; do [[ -x "$OUT/$b" ]] || missing+=("$b"); done
if ((${#missing[@]})); then
  mkdir -p "$WRAP" "$OUT"
  gomod="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')"
  {
    echo "module quarry.local/k8s-wrapper"
    echo
    grep -m1 '^go ' "$gomod"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    grep -E '^\s*k8s\.io/[a-z0-9-]+ => \./staging/' "$gomod" \
      | awk -v v="$STAGING_VERSION" '{print "replace " $1 " => " $1 " " v}'
  } >"$WRAP/go.mod"
  printf 'package tools\n\nimport (\n' >"$WRAP/tools.go"
  for b in "${missing[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$b" >>"$WRAP/tools.go"; done
  printf ')\n' >>"$WRAP/tools.go"
  sed -i '1i //go:build tools\n' "$WRAP/tools.go"
  (cd "$WRAP" && go mod tidy -e >/dev/null 2>&1 || true)
  for b in "${missing[@]}"; do
    echo "building $b $K8S_VERSION" >&2
    (cd "$WRAP" && go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION" \
      -o "$OUT/$b.tmp" "k8s.io/kubernetes/cmd/$b" && mv "$OUT/$b.tmp" "$OUT/$b")
  done
fi
echo "$OUT"
