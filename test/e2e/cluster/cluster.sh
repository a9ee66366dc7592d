#!/usr/bin/env bash
# A one-node Kubernetes cluster for Quarry's e2e stories: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, containerd and the kubelet, all on
# 127.0.0.1 or unix sockets, all started by this script and stopped by PID.
#
#   cluster.sh up   STATE_DIR    start everything, wait for the node to be Ready
#   cluster.sh down STATE_DIR    stop everything, unmount, detach, remove state
#   cluster.sh restart-kubelet STATE_DIR   stop the kubelet by PID, start it again, wait Ready
#
# Environment: K8S_BIN (dir with the kube binaries, from build-cluster-tools.sh),
# E2E_IMAGES (dir of image archives to import; must hold the pause image),
# E2E_PAUSE_IMAGE (its name), E2E_POOL_SIZE (default 6G), E2E_POOL_DIR (below /var/lib/quarry).
#
# Host facts this depends on (measured on the CI machine kind):
#  - cgroup v1: the kubelet needs failCgroupV1: false and the cgroupfs driver;
#  - root lacks CAP_SYS_RESOURCE: containerd's CRI plugin needs
#    restrict_oom_score_adj, or every sandbox fails "can't get final child's PID";
#  - the kubelet refuses a loopback node IP, so it listens on 127.0.0.1 only and
#    the API server reaches it by the node's host name (which resolves locally);
#  - no CNI networking: every pod of the stories uses the host network, but the
#    runtime still needs one CNI config to report its network ready.
set -euo pipefail

cmd=${1:?up|down}
S=${2:?state dir}
KUBELET_ROOT=/var/lib/kubelet
QUARRY_ROOT=/var/lib/quarry
POOL_DIR=${E2E_POOL_DIR:-$QUARRY_ROOT/pools/default}  # shared mode: $QUARRY_ROOT/shared
NODE_NAME=$(hostname)
ETCD_PORT=23790
API_PORT=6443

log() { printf '[cluster %s] %s\n' "$(date +%T)" "$*" >&2; }

start() { # name cmd... : runs in its own session, logs to $S/logs/name.log, PID in $S/pids/name
  local name=$1; shift
  mkdir -p "$S/logs" "$S/pids"
  setsid "$@" >"$S/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$S/pids/$name"
}

wait_for() { # seconds description command...
  local secs=$1 what=$2; shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS > end)); then log "timed out waiting for $what"; return 1; fi
    sleep 1
  done
}

pki() {
  local P=$S/pki
  mkdir -p "$P"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=quarry-e2e-ca \
    -keyout "$P/ca.key" -out "$P/ca.crt" 2>/dev/null
  cert() { # name subject san
    openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$P/$1.key" -out "$P/$1.csr" 2>/dev/null
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$3" >"$P/$1.ext"
    openssl x509 -req -in "$P/$1.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial -days 2 \
      -extfile "$P/$1.ext" -out "$P/$1.crt" 2>/dev/null
  }
  cert apiserver /CN=kube-apiserver \
    "IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert admin "/O=system:masters/CN=quarry-e2e-admin" "DNS:admin"
  cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" "DNS:$NODE_NAME,DNS:localhost,IP:127.0.0.1"
  openssl genrsa -out "$P/sa.key" 2048 2>/dev/null
  openssl rsa -in "$P/sa.key" -pubout -out "$P/sa.pub" 2>/dev/null
  kubeconfig admin "$S/admin.kubeconfig"
  kubeconfig kubelet "$S/kubelet.kubeconfig"
}

kubeconfig() { # cert-name file
  cat >"$2" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster: {server: "https://127.0.0.1:$API_PORT", certificate-authority: "$S/pki/ca.crt"}
users:
- name: $1
  user: {client-certificate: "$S/pki/$1.crt", client-key: "$S/pki/$1.key"}
contexts:
- name: e2e
  context: {cluster: e2e, user: $1, namespace: default}
current-context: e2e
EOF
}

containerd_config() {
  mkdir -p "$S/cni"
  # Never used by a story pod (all use the host network); its presence makes the
  # runtime report NetworkReady, without which the node stays NotReady.
  cat >"$S/cni/10-e2e.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "quarry-e2e", "plugins": [{"type": "loopback"}]}
EOF
  cat >"$S/containerd.toml" <<EOF
version = 2
root = "$S/containerd/root"
state = "$S/containerd/state"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$S/containerd.sock"
[ttrpc]
  address = "$S/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$E2E_PAUSE_IMAGE"
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$S/cni"
EOF
}

kubelet_config() {
  cat >"$S/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: "$S/pki/ca.crt"}
authorization: {mode: AlwaysAllow}
tlsCertFile: "$S/pki/kubelet.crt"
tlsPrivateKeyFile: "$S/pki/kubelet.key"
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: "unix://$S/containerd.sock"
imageServiceEndpoint: "unix://$S/containerd.sock"
staticPodPath: ""
syncFrequency: 10s
fileCheckFrequency: 10s
nodeStatusUpdateFrequency: 5s
# The stories' disks are small and shared with the CI machine: no evictions.
evictionHard: {memory.available: "1Mi", nodefs.available: "0%", imagefs.available: "0%", nodefs.inodesFree: "0%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
resolvConf: /etc/resolv.conf
EOF
}

# The DaemonSet mounts the kubelet dir with Bidirectional and the pools with
# HostToContainer propagation: both host paths must be on shared mounts. A host
# with systemd has / shared already; this one (no systemd) has / private.
shared_mount() {
  mkdir -p "$1"
  mount --rbind "$1" "$1"
  mount --make-rshared "$1"
  echo "$1" >>"$S/shared-mounts"
}

pool() { # an xfs pool of a known size, so "larger than any pool" is well defined
  mkdir -p "$POOL_DIR"
  truncate -s "${E2E_POOL_SIZE:-6G}" "$S/pool.img"
  mkfs.xfs -q -m reflink=1 "$S/pool.img"
  mount -o loop "$S/pool.img" "$POOL_DIR"
  mountpoint -d "$POOL_DIR" | awk -F: '{print $1+0 ":" $2+0}' >"$S/pool-dev"
}

up() {
  [[ -e $S ]] && { log "$S exists: run down first"; return 1; }
  : "${K8S_BIN:?}" "${E2E_PAUSE_IMAGE:?}" "${E2E_IMAGES:?}"
  for dir in "$KUBELET_ROOT" "$QUARRY_ROOT"; do
    if [[ -e $dir ]] && [[ -n "$(ls -A "$dir" 2>/dev/null)" ]]; then
      log "$dir is not empty: another cluster or a leftover; refusing to start"; return 1
    fi
  done
  mkdir -p "$S"
  echo "$KUBELET_ROOT $QUARRY_ROOT" >"$S/owned-dirs"
  pki
  shared_mount "$KUBELET_ROOT"
  shared_mount "$QUARRY_ROOT"
  pool

  log "etcd"
  start etcd etcd --name e2e --data-dir "$S/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls http://127.0.0.1:23800 --initial-advertise-peer-urls http://127.0.0.1:23800 \
    --initial-cluster e2e=http://127.0.0.1:23800 --listen-metrics-urls ""
  wait_for 60 etcd curl -sf "http://127.0.0.1:$ETCD_PORT/health"

  log "kube-apiserver"
  local P=$S/pki
  start kube-apiserver "$K8S_BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$API_PORT" \
    --service-cluster-ip-range 10.96.0.0/16 \
    --client-ca-file "$P/ca.crt" --tls-cert-file "$P/apiserver.crt" --tls-private-key-file "$P/apiserver.key" \
    --service-account-issuer https://kubernetes.default.svc \
    --service-account-key-file "$P/sa.pub" --service-account-signing-key-file "$P/sa.key" \
    --authorization-mode Node,RBAC --allow-privileged=true \
    --kubelet-client-certificate "$P/admin.crt" --kubelet-client-key "$P/admin.key" \
    --kubelet-preferred-address-types Hostname,InternalIP \
    --enable-priority-and-fairness=false --profiling=false --v=1
  wait_for 120 kube-apiserver "$K8S_BIN/kubectl" --kubeconfig "$S/admin.kubeconfig" get --raw /readyz

  log "kube-controller-manager, kube-scheduler"
  start kube-controller-manager "$K8S_BIN/kube-controller-manager" \
    --kubeconfig "$S/admin.kubeconfig" --authentication-kubeconfig "$S/admin.kubeconfig" \
    --authorization-kubeconfig "$S/admin.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port 10257 --leader-elect=false \
    --root-ca-file "$P/ca.crt" --service-account-private-key-file "$P/sa.key" \
    --cluster-signing-cert-file "$P/ca.crt" --cluster-signing-key-file "$P/ca.key" \
    --use-service-account-credentials=false --controllers '*' --profiling=false --v=1
  start kube-scheduler "$K8S_BIN/kube-scheduler" \
    --kubeconfig "$S/admin.kubeconfig" --authentication-kubeconfig "$S/admin.kubeconfig" \
    --authorization-kubeconfig "$S/admin.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port 10259 --leader-elect=false --profiling=false --v=1

  log "containerd"
  containerd_config
  start containerd containerd --config "$S/containerd.toml"
  wait_for 60 containerd ctr --address "$S/containerd.sock" version
  local archive
  for archive in "$E2E_IMAGES"/*.tar; do
    log "import $(basename "$archive")"
    ctr --address "$S/containerd.sock" -n k8s.io images import --no-unpack=false "$archive" >/dev/null
  done

  kubelet_config
  start_kubelet
  log "up: node $NODE_NAME Ready"
}

start_kubelet() {
  log "kubelet"
  start kubelet "$K8S_BIN/kubelet" --config "$S/kubelet.yaml" --kubeconfig "$S/kubelet.kubeconfig" \
    --root-dir "$KUBELET_ROOT" --v=2
  wait_for 180 "node $NODE_NAME Ready" "$K8S_BIN/kubectl" --kubeconfig "$S/admin.kubeconfig" \
    wait --for=condition=Ready "node/$NODE_NAME" --timeout=2s
}

restart_kubelet() {
  mv "$S/logs/kubelet.log" "$S/logs/kubelet.$(date +%s).log"
  stop_pid kubelet
  start_kubelet
}

stop_pid() { # name [signal]
  local f=$S/pids/$1 pid
  [[ -f $f ]] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -"${2:-TERM}" "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

# Mount points at or below $1, deepest first, read from our own mount table.
mounts_below() {
  awk -v p="$1" '{ m=$5; gsub(/\\040/, " ", m); if (m == p || index(m, p "/") == 1) print m }' /proc/self/mountinfo | sort -r | uniq
}

unmount_below() {
  local m
  for _ in 1 2 3; do
    while read -r m; do [[ -n $m ]] && umount -l "$m" 2>/dev/null || true; done < <(mounts_below "$1")
    [[ -z "$(mounts_below "$1")" ]] && return 0
    sleep 1
  done
}

down() {
  [[ -d $S ]] || return 0
  log "down"
  stop_pid kubelet
  # Containers: kill every task of our containerd, then containerd itself; the
  # shims exit with their tasks.
  if [[ -S $S/containerd.sock ]]; then
    local ctr=(ctr --address "$S/containerd.sock" -n k8s.io) id
    for id in $("${ctr[@]}" tasks ls -q 2>/dev/null); do "${ctr[@]}" tasks kill -s SIGKILL "$id" 2>/dev/null || true; done
    sleep 1
    for id in $("${ctr[@]}" tasks ls -q 2>/dev/null); do "${ctr[@]}" tasks delete -f "$id" 2>/dev/null || true; done
    for id in $("${ctr[@]}" containers ls -q 2>/dev/null); do "${ctr[@]}" containers delete "$id" 2>/dev/null || true; done
  fi
  stop_pid containerd
  # Shims that outlived containerd are ours only if their command line names our socket.
  local pid
  for pid in $(pgrep -f "containerd-shim.*-address $S/containerd.sock" || true); do kill -KILL "$pid" 2>/dev/null || true; done
  stop_pid kube-scheduler
  stop_pid kube-controller-manager
  stop_pid kube-apiserver
  stop_pid etcd
  unmount_below "$KUBELET_ROOT"
  # Loops over volume images: matched by the backing file's device (the pool's
  # filesystem), since one attached in a gone pod's mount namespace shows a path
  # relative to that pod's root.
  local dev pool_dev
  pool_dev=$(cat "$S/pool-dev" 2>/dev/null || true)
  if [[ -n $pool_dev ]]; then
    for dev in $(losetup -n -O NAME,BACK-MAJ:MIN | awk -v d="$pool_dev" '{split($2, a, ":"); if (a[1]+0 ":" a[2]+0 == d) print $1}'); do
      log "detaching $dev (a volume image loop left attached)"
      losetup -d "$dev" 2>/dev/null || true
    done
  fi
  unmount_below "$QUARRY_ROOT"
  unmount_below "$S"
  for dev in $(losetup -n -O NAME,BACK-FILE | awk -v f="$S/pool.img" '$2 == f {print $1}'); do
    losetup -d "$dev" 2>/dev/null || true
  done
  if [[ -z "$(mounts_below "$KUBELET_ROOT")$(mounts_below "$QUARRY_ROOT")$(mounts_below "$S")" ]]; then
    rm -rf "$KUBELET_ROOT" "$QUARRY_ROOT" "$S"
  else
    log "mounts remain below the cluster's directories; not removing them"; mounts_below / | grep -E "$KUBELET_ROOT|$QUARRY_ROOT|$S" >&2
    return 1
  fi
  log "down: done"
}

case $cmd in
  up) up ;;
  down) down ;;
  restart-kubelet) : "${K8S_BIN:?}"; restart_kubelet ;;
  *) echo "usage: $0 up|down|restart-kubelet STATE_DIR" >&2; exit 2 ;;
esac
