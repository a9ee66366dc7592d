import { alreadyExists, invalidArgument, notFound } from '../../domain/errors.js';
import { parseVolumeId, snapshotIdForName } from '../../domain/ids.js';
import { topMountAt } from '../../host/mountinfo.js';
import type { SnapshotRecord, VolumeRecord } from '../../storage/records.js';
import { createSnapshot as createPoolSnapshot, deleteSnapshot } from '../../storage/snapshots.js';
import type { ServiceContext } from '../context.js';
import { snapshotMessage } from './snapshot-response.js';

/** Added by external-snapshotter --extra-create-metadata; kept in the record. */
export const PARAM_SNAPSHOT_NAME = 'csi.storage.k8s.io/volumesnapshot/name';
export const PARAM_SNAPSHOT_NAMESPACE = 'csi.storage.k8s.io/volumesnapshot/namespace';
export const PARAM_SNAPSHOT_CONTENT_NAME = 'csi.storage.k8s.io/volumesnapshotcontent/name';
const ACCEPTED = [PARAM_SNAPSHOT_NAME, PARAM_SNAPSHOT_NAMESPACE, PARAM_SNAPSHOT_CONTENT_NAME];

export interface CreateSnapshotWire {
  name?: string;
  source_volume_id?: string;
  parameters?: Record<string, string>;
}

/**
 * Idempotent by name: the ID derives from it, so a retry finds the same record.
 * The snapshot lives in its source's pool, where a reflink can share extents.
 */
export async function createSnapshot(ctx: ServiceContext, req: CreateSnapshotWire) {
  const name = req.name ?? '';
  if (!name) throw invalidArgument('name is required');
  if (!req.source_volume_id) throw invalidArgument('source_volume_id is required');
  const kubernetes = parseSnapshotParameters(req.parameters);
  const id = snapshotIdForName(name);
  return ctx.locks.run(`snapshot:${id}`, async () => {
    const existing = await ctx.pools.findSnapshot(id);
    if (existing && existing.record.sourceVolumeId !== req.source_volume_id) {
      throw alreadyExists(`snapshot ${name} already exists for volume ${existing.record.sourceVolumeId}, not ${req.source_volume_id}`);
    }
    if (existing?.record.state === 'ready') return { snapshot: snapshotMessage(existing.record) };
    if (existing?.record.state === 'deleting') await deleteSnapshot(existing.pool, id);
    const sourceId = parseVolumeId(req.source_volume_id);
    if (!sourceId) throw notFound(`source volume ${req.source_volume_id} does not exist`);
    // The source waits: a DeleteVolume or expansion of it cannot run during the copy.
    const record: SnapshotRecord = await ctx.locks.run(`volume:${sourceId}`, async () => {
      const source = await ctx.pools.findVolume(sourceId);
      if (!source || source.record.state !== 'ready') {
        // A crash left this snapshot half-made and its source is gone since: nothing can finish it.
        if (existing) await deleteSnapshot(existing.pool, id);
        throw notFound(`source volume ${req.source_volume_id} does not exist`);
      }
      const freezeMountPath = await stagedMountHere(ctx, source.record);
      if (freezeMountPath && source.pool.reflink) {
        ctx.logger.info({ volume_id: sourceId, snapshot_id: id, mount: freezeMountPath }, 'freezing the staged filesystem for the instant of the reflink');
      }
      return createPoolSnapshot(source.pool, { id, name, sourceVolumeId: sourceId, parameters: {}, kubernetes }, { freezeMountPath });
    });
    return { snapshot: snapshotMessage(record) };
  }, `snapshot name ${name}`);
}

function parseSnapshotParameters(params: Record<string, string> | null | undefined): SnapshotRecord['kubernetes'] {
  const p = params ?? {};
  const unknown = Object.keys(p).filter((k) => !ACCEPTED.includes(k));
  if (unknown.length > 0) {
    throw invalidArgument(`unknown snapshot parameter ${unknown.map((k) => `"${k}"`).join(', ')}; accepted keys are: ${ACCEPTED.join(', ')}`);
  }
  if (Object.keys(p).length === 0) return undefined;
  return {
    snapshotName: p[PARAM_SNAPSHOT_NAME],
    snapshotNamespace: p[PARAM_SNAPSHOT_NAMESPACE],
    snapshotContentName: p[PARAM_SNAPSHOT_CONTENT_NAME],
  };
}

/** The source's filesystem mount on this host, if the node service staged it here: the one to freeze. */
async function stagedMountHere(ctx: ServiceContext, v: VolumeRecord): Promise<string | undefined> {
  const staged = v.staging.find((s) => s.nodeId === ctx.nodeId && s.accessType === 'mount');
  if (!staged) return undefined;
  const mounted = await topMountAt(staged.stagingPath);
  if (!mounted || (staged.device && mounted.source !== staged.device)) return undefined;
  return staged.stagingPath;
}
