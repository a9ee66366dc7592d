export const HELP = `quarry - a Kubernetes CSI driver for image pools with real capacity limits,
copy-on-write snapshots and online expansion.

Usage:
  quarry controller [flags]   serve the CSI Identity and Controller services
  quarry node [flags]         serve the CSI Identity and Node services
  quarry all [flags]          serve Identity, Controller and Node in one process
  quarry doctor [--pool [name=]path ...] [--kubelet-dir DIR]
                              check this host before installing
  quarry demo [--dir DIR]     walk one volume through its whole life on a local pool
  quarry --version | --help

Flags:
  --endpoint unix:///path.sock   socket to serve on (required)
  --nodeid NAME                  this node's name (required for node and all, and for
                                 a local-mode controller with pools)
  --pool [name=]path             a pool directory; repeatable. An empty directory
                                 becomes a pool. Without a name the pool is "default".
  --drivername NAME              CSI driver name (default quarry.csi.dev)
  --log-level LEVEL              fatal, error, warn, info, debug, trace (default info)
  --shared                       pools are on a datastore shared by every node
  --overprovisioning RATIO       how much thin capacity to promise per byte of disk
                                 (default 1.0)
  --low-space-percent P          above 1.0: a pool whose free space falls under P % of
                                 its filesystem marks its thin volumes abnormal (default 10)
  --max-volumes-per-node N       reported by NodeGetInfo; 0 means no limit (default 0)
  --socket-mode MODE             octal mode of the socket file (default 0600)
  --metrics-addr [host]:port     serve Prometheus metrics at http://host:port/metrics,
                                 e.g. :9810 (default: off)

A controller started with no --pool holds no data: it is the stub that the central
external-resizer talks to in local mode.
`;
