import { randomBytes } from 'node:crypto';
import { alreadyExists, failedPrecondition, invalidArgument, notFound, resourceExhausted } from '../../domain/errors.js';
import { parseNodeId, type NodeId } from '../../domain/ids.js';
import { isReadOnlyMode, type Capability } from '../../domain/volume.js';
import { faultPoint } from '../../storage/fault-points.js';
import { NodeRegistry, type NodeRegistration } from '../../storage/node-registry.js';
import type { AttachmentRecord, VolumeRecord } from '../../storage/records.js';
import { decodeCapability } from '../capabilities.js';
import type { ServiceContext } from '../context.js';
import { requireField, requireVolume, type FoundVolume } from '../lookup.js';
import { ATTACHMENT_TOKEN_KEY } from '../node/shared-attachment.js';
import type { ControllerPublishVolumeRequest, ControllerPublishVolumeResponse } from '../../wire/types.js';

/**
 * Shared mode: grant one node the right to stage a volume. The grant is an
 * attachment in the volume's record with a fresh random token; the node's
 * NodeStageVolume must present that token, so a node holding an older grant
 * is refused (services/node/shared-attachment.ts).
 */
export async function controllerPublishVolume(
  ctx: ServiceContext,
  req: ControllerPublishVolumeRequest,
): Promise<ControllerPublishVolumeResponse> {
  const rawId = requireField(req.volume_id, 'volume_id');
  const rawNode = requireField(req.node_id, 'node_id');
  if (!req.volume_capability) throw invalidArgument('volume_capability is required');
  const cap = decodeCapability(req.volume_capability);
  // Read-only modes are read-only on every node, whatever the CO's flag says.
  const readOnly = Boolean(req.readonly) || isReadOnlyMode(cap.accessMode);
  return ctx.locks.run(`volume:${rawId}`, async () => {
    const vol = await requireVolume(ctx, rawId);
    const attachment = await vol.pool.withLock(async () => {
      const record = await vol.pool.requireVolume(vol.id);
      const existing = sameNodeAttachment(record, rawNode, cap, readOnly);
      if (existing) return existing;
      checkNoConflict(record, rawNode, cap);
      const node = await requireNode(vol, rawNode);
      await checkNodeLimit(ctx, node);
      const fresh: AttachmentRecord = { nodeId: node.nodeId, token: newToken(), accessMode: cap.accessMode, readOnly };
      await vol.pool.volumes.write({ ...record, attachments: [...record.attachments, fresh] });
      return fresh;
    });
    faultPoint('controller-publish:after-record');
    return { publish_context: { [ATTACHMENT_TOKEN_KEY]: attachment.token } };
  });
}

/** The grant this node already holds, when the request matches it: a retry gets the same token. */
function sameNodeAttachment(record: VolumeRecord, nodeId: string, cap: Capability, readOnly: boolean): AttachmentRecord | undefined {
  const held = record.attachments.find((a) => a.nodeId === nodeId);
  if (!held) return undefined;
  if (held.accessMode !== cap.accessMode || held.readOnly !== readOnly) {
    throw alreadyExists(
      `volume ${record.id} is already published to node ${nodeId} as ${describe(held.accessMode, held.readOnly)}, ` +
        `not ${describe(cap.accessMode, readOnly)}; unpublish it first`,
    );
  }
  return held;
}

/**
 * Several nodes may hold a volume only when every one of them reads it (MULTI_NODE_READER_ONLY).
 * A node holds it while it has a grant, and also while the pool's records show it staged or
 * published there: a grant withdrawn by force (the CO's force-detach of an unreachable node)
 * does not unmount anything, so that node may still be writing (design: Shared mode).
 */
function checkNoConflict(record: VolumeRecord, nodeId: string, cap: Capability): void {
  const shared = (mode: string) => mode === 'MULTI_NODE_READER_ONLY';
  const blocker = record.attachments.find((a) => a.nodeId !== nodeId && !(shared(a.accessMode) && shared(cap.accessMode)));
  if (blocker) {
    throw failedPrecondition(
      `volume ${record.id} is published to node ${blocker.nodeId} (${blocker.accessMode}); ` +
        `it must be unpublished from node ${blocker.nodeId} before node ${nodeId} may use it`,
    );
  }
  const users = new Set([...record.staging, ...record.publications].map((u) => u.nodeId).filter((n) => n !== nodeId));
  for (const other of users) {
    const readsOnly =
      shared(cap.accessMode) &&
      record.attachments.some((a) => a.nodeId === other && shared(a.accessMode)) &&
      record.publications.filter((p) => p.nodeId === other).every((p) => shared(p.accessMode));
    if (readsOnly) continue;
    const where = [
      ...record.staging.filter((s) => s.nodeId === other).map((s) => `staged at ${s.stagingPath}`),
      ...record.publications.filter((p) => p.nodeId === other).map((p) => `published at ${p.targetPath}`),
    ].join(', ');
    throw failedPrecondition(
      `volume ${record.id} is still in use on node ${other} (${where}) although its grant there was withdrawn; ` +
        `it must be unpublished and unstaged on node ${other} (its quarry node service does that when kubelet cleans up) ` +
        `before node ${nodeId} may use it`,
    );
  }
}

/** A node is known once its node service has registered in the pool (services/node/register.ts). */
async function requireNode(vol: FoundVolume, rawNode: string): Promise<NodeRegistration & { nodeId: NodeId }> {
  const nodeId = parseNodeId(rawNode);
  const node = nodeId && (await new NodeRegistry(vol.pool.root).read(nodeId));
  if (!nodeId || !node) {
    throw notFound(`node ${rawNode} is not known to pool ${vol.pool.name}: its quarry node service has not registered there`);
  }
  return { ...node, nodeId };
}

/** Counts this node's attachments in every pool; the volume's own pool is locked, so its count is exact. */
async function checkNodeLimit(ctx: ServiceContext, node: NodeRegistration): Promise<void> {
  if (node.maxVolumesPerNode === 0) return;
  let count = 0;
  for (const pool of ctx.pools.pools.values()) {
    for (const v of await pool.listVolumes()) if (v.attachments.some((a) => a.nodeId === node.nodeId)) count++;
  }
  if (count >= node.maxVolumesPerNode) {
    throw resourceExhausted(`node ${node.nodeId} already has ${count} volumes published, its limit of ${node.maxVolumesPerNode}`);
  }
}

function newToken(): string {
  return randomBytes(16).toString('hex');
}

function describe(mode: string, readOnly: boolean): string {
  return `${mode}${readOnly ? ' read-only' : ''}`;
}
