import { pino, type Logger } from 'pino';
import { ImagePool } from '../storage/image-pool.js';
import { PoolSet } from '../storage/pool-set.js';
import { recoverInterrupted, sweepTempRecords } from '../storage/recovery.js';
import { startFreezeSweeper, thawRecordedFreezes } from '../storage/freeze-sweep.js';
import { newRequestLocks, type ServiceContext } from '../services/context.js';
import { identityService } from '../services/identity.js';
import { registerNode } from '../services/node/register.js';
import { resizerEndpointNodeService } from '../services/node/resizer-endpoint.js';
import { packageVersion } from '../version.js';
import { installSignalHandlers, startCsiServer } from '../wire/server.js';
import { setHostToolObserver } from '../host/exec.js';
import { realHost } from '../host/node-host.js';
import type { QuarryConfig } from './config.js';

const SHUTDOWN_GRACE_MS = 20_000;
const FREEZE_SWEEP_MS = 5_000;

/** Opens the pools, builds the services for the role, and serves them until a signal. */
export async function serve(config: QuarryConfig): Promise<void> {
  const logger = pino({ level: config.logLevel, base: { role: config.role } });
  const ctx = await buildContext(config, logger);
  const servesController = config.role !== 'node';
  const servesNode = config.role !== 'controller';
  // The pool-less local-mode controller is external-resizer's endpoint (design: Expansion in local mode).
  const resizerEndpoint = config.role === 'controller' && ctx.mode === 'local' && ctx.pools.isEmpty;
  if (servesNode) await registerNode(ctx);
  if (ctx.nodeId) await thawLeftFreezes(ctx, ctx.nodeId, servesController, logger);
  if (servesController) await recoverPools(ctx, logger);
  // prom-client and the HTTP server load only with --metrics-addr (design: Process footprint).
  const metricsModules = config.metricsAddr
    ? await Promise.all([import('../metrics/registry.js'), import('../metrics/http.js')])
    : undefined;
  const metrics = metricsModules?.[0].createMetrics(ctx.pools, logger);
  if (metrics) ctx.locks = newRequestLocks(metrics.onLockWait);
  setHostToolObserver(metrics?.onHostTool);
  const metricsServer = metrics ? await metricsModules![1].startMetricsServer(config.metricsAddr!, metrics.registry, logger) : undefined;
  // Only the role's handlers load: a node process carries no controller code and the reverse.
  const controller = servesController ? await import('../services/controller/index.js') : undefined;
  const groupController = servesController ? await import('../services/group-controller/index.js') : undefined;
  const node = servesNode ? await import('../services/node/index.js') : undefined;
  const metadata = servesController ? await import('../services/snapshot-metadata/index.js') : undefined;
  const snapshotMetadata = metadata?.servesSnapshotMetadata(ctx, servesController) ?? false;
  const server = await startCsiServer({
    endpoint: config.endpoint,
    socketMode: config.socketMode,
    logger,
    services: {
      Identity: identityService(ctx, { snapshotMetadata }),
      ...(controller && groupController
        ? { Controller: controller.controllerService(ctx), GroupController: groupController.groupControllerService(ctx) }
        : {}),
      ...(metadata && snapshotMetadata ? { SnapshotMetadata: metadata.snapshotMetadataService(ctx) } : {}),
      ...(node ? { Node: node.nodeService(ctx) } : resizerEndpoint ? { Node: resizerEndpointNodeService() } : {}),
    },
    onRpc: metrics?.onRpc,
    onRpcStart: metrics?.onRpcStart,
  }).catch(async (err: unknown) => {
    await metricsServer?.close(); // an open HTTP port would keep the failed process alive
    throw err;
  });
  installSignalHandlers(metricsServer ? [server, metricsServer] : server, logger, SHUTDOWN_GRACE_MS);
  // Imported in this case only: the Kubernetes client costs nothing where it is off.
  if (config.labelImportedSnapshots) await (await import('../kube/start.js')).startLabeler(ctx, logger);
  // In the background: the sweep needs the pool lock, which another process may hold for a while.
  void sweepPools(ctx, logger);
  logger.info(
    { endpoint: config.endpoint, driver: ctx.driverName, version: ctx.version, mode: ctx.mode, nodeId: ctx.nodeId },
    `quarry ${config.role} serving`,
  );
}

/** Every role: temporary record files left by a process killed mid-write are removed. Never throws. */
async function sweepPools(ctx: ServiceContext, logger: Logger): Promise<void> {
  for (const pool of ctx.pools.pools.values()) {
    try {
      const removed = await sweepTempRecords(pool);
      logger.info({ pool: pool.name, removed }, 'temporary record files left by interrupted writes swept');
    } catch (err) {
      logger.error({ pool: pool.name, err: (err as Error).message }, 'could not sweep temporary record files; the next start tries again');
    }
  }
}

/**
 * Thaws filesystems a killed process left frozen for a copy (design: Freeze): at start, those an
 * earlier controller took (this process replaced it) and any past their deadline; then, every
 * few seconds, any past its deadline, whichever process took it.
 */
async function thawLeftFreezes(ctx: ServiceContext, nodeId: string, controller: boolean, logger: Logger): Promise<void> {
  const log = (pool: string, r: { volumeId: string; mountPath: string; error?: string }) =>
    r.error
      ? logger.error(
          { pool, volume_id: r.volumeId, mount: r.mountPath, err: r.error },
          'could not thaw a filesystem left frozen for a copy',
        )
      : logger.warn({ pool, volume_id: r.volumeId, mount: r.mountPath }, 'thawed a filesystem left frozen for a copy');
  for (const pool of ctx.pools.pools.values()) {
    for (const r of await thawRecordedFreezes(pool, nodeId, { startOf: controller ? 'controller' : undefined })) log(pool.name, r);
  }
  startFreezeSweeper(ctx.pools.pools.values(), nodeId, FREEZE_SWEEP_MS, log);
}

/** Finishes what a crash interrupted before any request can race with it. */
async function recoverPools(ctx: ServiceContext, logger: Logger): Promise<void> {
  for (const pool of ctx.pools.pools.values()) {
    for (const r of await recoverInterrupted(pool)) {
      const fields = { pool: pool.name, [`${r.kind}_id`]: r.id, name: r.name, was: r.was };
      if (r.error) logger.error({ ...fields, err: r.error }, `could not remove ${r.kind} left ${r.was} by an earlier run`);
      else logger.warn(fields, `removed ${r.kind} left ${r.was} by an earlier run`);
    }
  }
}

export async function buildContext(config: QuarryConfig, logger: Logger): Promise<ServiceContext> {
  const pools = new Map<string, ImagePool>();
  for (const spec of config.pools) {
    const pool = await ImagePool.open(spec.name, spec.path, {
      overprovisioning: config.overprovisioning,
      lowSpaceFraction: config.lowSpacePercent / 100,
      onCorruptRecord: (path, err) => logger.error({ path, err: err.message }, 'skipping corrupt metadata record'),
    });
    logger.info(
      { pool: spec.name, path: spec.path, reflink: pool.reflink },
      pool.reflink
        ? `pool ${spec.name}: reflinks supported, snapshots and clones are copy-on-write`
        : `pool ${spec.name}: no reflink support, snapshots and clones use a sparse copy`,
    );
    pools.set(spec.name, pool);
  }
  return {
    driverName: config.driverName,
    version: packageVersion(),
    mode: config.shared ? 'shared' : 'local',
    nodeId: config.nodeId,
    pools: new PoolSet(pools),
    logger,
    maxVolumesPerNode: config.maxVolumesPerNode,
    locks: newRequestLocks(),
    kubeletDir: config.kubeletDir,
    host: realHost,
  };
}
