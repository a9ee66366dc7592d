/**
 * Quarry's Prometheus metrics: RPC counts and latencies fed by the server's onRpc hook, pool
 * gauges read from the pools at scrape time, and the process's default metrics.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { LockWaitObserver } from '../services/request-locks.js';
import type { PoolSet } from '../storage/pool-set.js';
import { codeName } from '../wire/errors.js';
import type { RpcRecord } from '../wire/rpc-log.js';
import type { HostToolObserver } from '../host/exec.js';
import { packageVersion } from '../version.js';
import { registerPoolGauges } from './pool-collector.js';

export const METRIC_PREFIX = 'quarry_';

/** The proto package of the CSI services, for grpc_service ("csi.v1.Controller"). */
const CSI_PACKAGE = 'csi.v1';

// From a Probe (ms) to a sparse copy of a large image (minutes).
const RPC_SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

export interface QuarryMetrics {
  registry: Registry;
  /** The startCsiServer onRpc hook. */
  onRpc(rec: RpcRecord): void;
  /** The startCsiServer onRpcStart hook: feeds the in-flight gauge. */
  onRpcStart(service: string, method: string): void;
  /** The request locks' observer: feeds the lock-wait histogram. */
  onLockWait: LockWaitObserver;
  /** The host-tool observer for src/host/exec.ts (setHostToolObserver). */
  onHostTool: HostToolObserver;
}

// From an uncontended lock (0) to the wait bound (45 s).
const LOCK_WAIT_SECONDS_BUCKETS = [0.001, 0.01, 0.1, 0.5, 1, 2.5, 5, 10, 20, 30, 45];

export function createMetrics(pools: PoolSet, logger: Logger): QuarryMetrics {
  const registry = new Registry();
  const labelNames = ['service', 'method', 'code'] as const;
  const rpcTotal = new Counter({
    name: `${METRIC_PREFIX}rpc_total`,
    help: 'CSI RPCs answered, by service, method and gRPC status code.',
    labelNames,
    registers: [registry],
  });
  const rpcSeconds = new Histogram({
    name: `${METRIC_PREFIX}rpc_duration_seconds`,
    help: 'Time to answer a CSI RPC, by service, method and gRPC status code.',
    labelNames,
    buckets: RPC_SECONDS_BUCKETS,
    registers: [registry],
  });
  const inFlight = new Gauge({
    name: `${METRIC_PREFIX}rpc_in_flight`,
    help: 'CSI RPCs being answered now, by service and method.',
    labelNames: ['service', 'method'] as const,
    registers: [registry],
  });
  const lockWait = new Histogram({
    name: `${METRIC_PREFIX}request_lock_wait_seconds`,
    help: 'Time a request waited for its volume, name or path, by method and outcome (acquired, aborted: conflicting request refused at once, cancelled: caller gone, timeout).',
    labelNames: ['method', 'outcome'] as const,
    buckets: LOCK_WAIT_SECONDS_BUCKETS,
    registers: [registry],
  });
  // The go-grpc-prometheus / grpc-ecosystem names, so that stock gRPC dashboards and alerts
  // work. quarry_rpc_* above carry the same data and are deprecated (see CHANGELOG.md).
  const grpcLabels = ['grpc_type', 'grpc_service', 'grpc_method', 'grpc_code'] as const;
  const grpcHandled = new Counter({
    name: 'grpc_server_handled_total',
    help: 'Total number of RPCs completed on the server, regardless of success or failure.',
    labelNames: grpcLabels,
    registers: [registry],
  });
  const grpcSeconds = new Histogram({
    name: 'grpc_server_handling_seconds',
    help: 'Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.',
    labelNames: grpcLabels,
    buckets: RPC_SECONDS_BUCKETS,
    registers: [registry],
  });
  new Gauge({
    name: `${METRIC_PREFIX}build_info`,
    help: 'Always 1; the labels say which Quarry and which Node.js runtime this process is.',
    labelNames: ['version', 'nodejs_version'],
    registers: [registry],
  }).set({ version: packageVersion(), nodejs_version: process.version }, 1);
  const toolSeconds = new Histogram({
    name: `${METRIC_PREFIX}host_tool_duration_seconds`,
    help: 'Time one run of a host tool (mkfs.xfs, losetup, mount, cp, ...) took, by tool and outcome.',
    labelNames: ['tool', 'outcome'],
    buckets: RPC_SECONDS_BUCKETS,
    registers: [registry],
  });
  const toolFailures = new Counter({
    name: `${METRIC_PREFIX}host_tool_failures_total`,
    help: 'Host-tool runs that did not succeed, by tool and outcome (failed, timeout, missing, error).',
    labelNames: ['tool', 'outcome'],
    registers: [registry],
  });
  registerPoolGauges(registry, pools, logger);
  // Unprefixed (process_*, nodejs_*): the names stock Node.js dashboards and alerts expect.
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    onRpcStart(service, method) {
      inFlight.inc({ service, method });
    },
    onLockWait(method, outcome, seconds) {
      lockWait.observe({ method, outcome }, seconds);
    },
    onRpc(rec) {
      inFlight.dec({ service: rec.service, method: rec.method });
      const labels = { service: rec.service, method: rec.method, code: codeName(rec.code) };
      rpcTotal.inc(labels);
      rpcSeconds.observe(labels, rec.durationMs / 1000);
      const grpc = { grpc_type: 'unary', grpc_service: `${CSI_PACKAGE}.${rec.service}`, grpc_method: rec.method, grpc_code: labels.code };
      grpcHandled.inc(grpc);
      grpcSeconds.observe(grpc, rec.durationMs / 1000);
    },
    onHostTool(tool, outcome, seconds) {
      toolSeconds.observe({ tool, outcome }, seconds);
      if (outcome !== 'ok') toolFailures.inc({ tool, outcome });
    },
  };
}
