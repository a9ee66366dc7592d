import { randomBytes } from 'node:crypto';
import { alreadyExists, failedPrecondition, notFound, resourceExhausted } from '../domain/errors.js';
import { parseNodeId, type NodeId, type VolumeId } from '../domain/ids.js';
import type { Capability } from '../domain/volume.js';
import { faultPoint } from './fault-points.js';
import type { ImagePool } from './image-pool.js';
import type { NodeRegistration } from './node-registry.js';
import type { AttachmentRecord, VolumeRecord } from './records.js';

/** What ControllerPublishVolume asks of the pool: the node (as the CO named it) and how it will use the volume. */
export interface AttachRequest {
  nodeId: string;
  capability: Capability;
  readOnly: boolean;
}

/**
 * Shared mode: records a grant of the volume to one node, under the pool lock, and returns it.
 * A retry with the same mode gets the grant it already holds (same token). `allPools` are every
 * pool of this host, for the node's volume limit (design: Shared mode).
 */
export async function attachVolume(
  pool: ImagePool,
  id: VolumeId,
  req: AttachRequest,
  allPools: Iterable<ImagePool>,
): Promise<AttachmentRecord> {
  const attachment = await pool.withLock(async () => {
    const record = await pool.requireVolume(id);
    const existing = sameNodeAttachment(record, req);
    if (existing) return existing;
    checkNoConflict(record, req.nodeId, req.capability);
    const node = await requireNode(pool, req.nodeId);
    await checkNodeLimit(allPools, node);
    const fresh: AttachmentRecord = {
      nodeId: node.nodeId,
      token: newToken(),
      accessMode: req.capability.accessMode,
      readOnly: req.readOnly,
    };
    await pool.volumes.write({ ...record, attachments: [...record.attachments, fresh] });
    return fresh;
  });
  faultPoint('controller-publish:after-record');
  return attachment;
}

/**
 * Shared mode: withdraws one node's grant, or every node's when `nodeId` is empty. A missing
 * record or a node without a grant leaves the record untouched (nothing to withdraw).
 */
export async function detachVolume(pool: ImagePool, id: VolumeId, nodeId: string): Promise<void> {
  await pool.withLock(async () => {
    const record = await pool.volumes.read(id);
    if (!record) return;
    const attachments = nodeId ? record.attachments.filter((a) => a.nodeId !== nodeId) : [];
    if (attachments.length !== record.attachments.length) await pool.volumes.write({ ...record, attachments });
  });
}

/** The grant this node already holds, when the request matches it: a retry gets the same token. */
function sameNodeAttachment(record: VolumeRecord, req: AttachRequest): AttachmentRecord | undefined {
  const held = record.attachments.find((a) => a.nodeId === req.nodeId);
  if (!held) return undefined;
  const mode = req.capability.accessMode;
  if (held.accessMode !== mode || held.readOnly !== req.readOnly) {
    throw alreadyExists(
      `volume ${record.id} is already published to node ${req.nodeId} as ${describe(held.accessMode, held.readOnly)}, ` +
        `not ${describe(mode, req.readOnly)}; unpublish it first`,
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
async function requireNode(pool: ImagePool, rawNode: string): Promise<NodeRegistration & { nodeId: NodeId }> {
  const nodeId = parseNodeId(rawNode);
  const node = nodeId && (await pool.nodeRegistration(nodeId));
  if (!nodeId || !node) {
    throw notFound(`node ${rawNode} is not known to pool ${pool.name}: its quarry node service has not registered there`);
  }
  return { ...node, nodeId };
}

/** Counts this node's attachments in every pool; the volume's own pool is locked, so its count is exact. */
async function checkNodeLimit(allPools: Iterable<ImagePool>, node: NodeRegistration): Promise<void> {
  if (node.maxVolumesPerNode === 0) return;
  let count = 0;
  for (const pool of allPools) {
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
