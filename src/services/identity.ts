import { failedPrecondition } from '../domain/errors.js';
import type { IdentityHandlers, PluginCapability } from '../wire/types.js';
import { bindHandlers, type HandlerTable } from './bind.js';
import type { ServiceContext } from './context.js';

/** Services this process offers beyond those every Quarry process reports. */
export interface OfferedServices {
  /** Changed-block metadata: only on the process that holds the snapshot images (design: Changed-block metadata). */
  snapshotMetadata?: boolean;
}

/**
 * CSI Identity: who we are, what the plugin offers, and whether this
 * process's pools are usable.
 *
 * Plugin capabilities describe the plugin "as a whole, as it is intended to
 * be deployed" (CSI spec), not one process: both deployment modes run a
 * Controller service, so a node-only process reports it too. That is what
 * lets a CO (or csi-sanity) talking to the node socket know that
 * ControllerPublishVolume must come first in shared mode. The one exception
 * is SNAPSHOT_METADATA_SERVICE: external-snapshot-metadata asks the socket in
 * its own pod, so only a process that serves it may claim it.
 */
const identityTable = (offered: OfferedServices): HandlerTable<IdentityHandlers> => ({
  async GetPluginInfo(ctx) {
    return { name: ctx.driverName, vendor_version: ctx.version, manifest: {} };
  },

  async GetPluginCapabilities(ctx) {
    const capabilities: PluginCapability[] = [{ service: { type: 'CONTROLLER_SERVICE' } }];
    // Consistent group snapshots of volumes in one pool (design: Group snapshots).
    capabilities.push({ service: { type: 'GROUP_CONTROLLER_SERVICE' } });
    if (ctx.mode === 'local') capabilities.push({ service: { type: 'VOLUME_ACCESSIBILITY_CONSTRAINTS' } });
    // Online expansion: by the controller in shared mode, by the owning node in local mode.
    capabilities.push({ volume_expansion: { type: 'ONLINE' } });
    // Per process, unlike the rest: the sidecar that asks sits next to the process that serves it.
    if (offered.snapshotMetadata) capabilities.push({ service: { type: 'SNAPSHOT_METADATA_SERVICE' } });
    return { capabilities };
  },

  async Probe(ctx) {
    const problem = await poolProblem(ctx);
    if (problem) throw failedPrecondition(problem);
    return { ready: { value: true } };
  },
});

/**
 * Probes that arrive while a check of the pools is running share its answer: a burst of Probes
 * (several sidecars, a liveness probe, a retrying CO) costs one check, not two file-system calls
 * per pool each, which were a third of Probe's CPU (design: Process footprint). A Probe that arrives
 * after a check finished starts a new one, so every answer is at most one check old.
 */
const running = new WeakMap<ServiceContext, Promise<string | undefined>>();

function poolProblem(ctx: ServiceContext): Promise<string | undefined> {
  let check = running.get(ctx);
  if (!check) {
    check = checkPools(ctx).finally(() => running.delete(ctx));
    running.set(ctx, check);
  }
  return check;
}

async function checkPools(ctx: ServiceContext): Promise<string | undefined> {
  for (const pool of ctx.pools.pools.values()) {
    const problem = await pool.probe();
    if (problem) return problem;
  }
  return undefined;
}

export function identityService(ctx: ServiceContext, offered: OfferedServices = {}): IdentityHandlers {
  return bindHandlers(ctx, identityTable(offered));
}
