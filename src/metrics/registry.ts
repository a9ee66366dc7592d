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
import { registerPoolGauges } from './pool-collector.js';

export const METRIC_PREFIX = 'quarry_';

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
    help:
      'Time a request waited for its volume, name or path, by method and outcome ' +
      '(acquired; aborted: a conflicting request refused at once; cancelled: its caller had gone; timeout).',
    labelNames: ['method', 'outcome'] as const,
    buckets: LOCK_WAIT_SECONDS_BUCKETS,
    registers: [registry],
  });
  registerPoolGauges(registry, pools, logger);
  collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
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
    },
  };
}
