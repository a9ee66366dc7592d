import type { ServiceContext } from '../context.js';

/**
 * Shared mode: announce this node in every pool it serves, so the controller
 * knows the node (and its volume limit) before it publishes anything to it.
 * Done at start, before the socket serves, so kubelet never sees a node the
 * controller would call unknown.
 */
export async function registerNode(ctx: ServiceContext): Promise<void> {
  if (ctx.mode !== 'shared' || !ctx.nodeId) return;
  for (const pool of ctx.pools.pools.values()) {
    const record = await pool.registerNode(ctx.nodeId, ctx.maxVolumesPerNode);
    ctx.logger.info(
      { pool: pool.name, nodeId: record.nodeId, maxVolumesPerNode: record.maxVolumesPerNode },
      'node registered in shared pool',
    );
  }
}
