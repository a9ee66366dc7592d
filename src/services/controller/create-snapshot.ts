import { alreadyExists, invalidArgument, notFound } from '../../domain/errors.js';
import { parseVolumeId, snapshotIdForName } from '../../domain/ids.js';
import type { SnapshotRecord } from '../../storage/records.js';
import { createSnapshot as createPoolSnapshot, deleteSnapshot } from '../../storage/snapshots.js';
import type { ServiceContext } from '../context.js';
import { snapshotMessage } from './snapshot-response.js';
import type { CallContext, CreateSnapshotRequest, CreateSnapshotResponse } from '../../wire/types.js';

/** Added by external-snapshotter --extra-create-metadata; kept in the record. */
export const PARAM_SNAPSHOT_NAME = 'csi.storage.k8s.io/volumesnapshot/name';
export const PARAM_SNAPSHOT_NAMESPACE = 'csi.storage.k8s.io/volumesnapshot/namespace';
export const PARAM_SNAPSHOT_CONTENT_NAME = 'csi.storage.k8s.io/volumesnapshotcontent/name';
const ACCEPTED = [PARAM_SNAPSHOT_NAME, PARAM_SNAPSHOT_NAMESPACE, PARAM_SNAPSHOT_CONTENT_NAME];

/**
 * Idempotent by name: the ID derives from it, so a retry finds the same record.
 * The snapshot lives in its source's pool, where a reflink can share extents.
 */
export async function createSnapshot(ctx: ServiceContext, req: CreateSnapshotRequest, call?: CallContext): Promise<CreateSnapshotResponse> {
  const name = req.name ?? '';
  if (!name) throw invalidArgument('name is required');
  if (!req.source_volume_id) throw invalidArgument('source_volume_id is required');
  const kubernetes = parseSnapshotParameters(req.parameters);
  const id = snapshotIdForName(name);
  return ctx.locks.runFor(
    call?.scope,
    `snapshot:${id}`,
    async () => {
      const existing = await ctx.pools.findSnapshot(id);
      if (existing && existing.record.sourceVolumeId !== req.source_volume_id) {
        throw alreadyExists(`snapshot ${name} already exists for volume ${existing.record.sourceVolumeId}, not ${req.source_volume_id}`);
      }
      if (existing?.record.state === 'ready') return { snapshot: snapshotMessage(existing.record) };
      if (existing?.record.state === 'deleting') await deleteSnapshot(existing.pool, id);
      const sourceId = parseVolumeId(req.source_volume_id);
      if (!sourceId) throw notFound(`source volume ${req.source_volume_id} does not exist`);
      // The source waits: a DeleteVolume or expansion of it cannot run during the copy.
      const record: SnapshotRecord = await ctx.locks.runFor(call?.scope, `volume:${sourceId}`, async () => {
        const source = await ctx.pools.findVolume(sourceId);
        if (source?.record.state !== 'ready') {
          // A crash left this snapshot half-made and its source is gone since: nothing can finish it.
          if (existing) await deleteSnapshot(existing.pool, id);
          throw notFound(`source volume ${req.source_volume_id} does not exist`);
        }
        return createPoolSnapshot(source.pool, { id, name, sourceVolumeId: sourceId, parameters: {}, kubernetes }, copyOptions(ctx));
      });
      return { snapshot: snapshotMessage(record) };
    },
    `snapshot name ${name}`,
  );
}

function parseSnapshotParameters(params: Record<string, string> | null | undefined): SnapshotRecord['kubernetes'] {
  const p = params ?? {};
  const unknown = Object.keys(p).filter((k) => !ACCEPTED.includes(k));
  if (unknown.length > 0) {
    throw invalidArgument(
      `unknown snapshot parameter ${unknown.map((k) => `"${k}"`).join(', ')}; accepted keys are: ${ACCEPTED.join(', ')}`,
    );
  }
  if (Object.keys(p).length === 0) return undefined;
  return {
    snapshotName: p[PARAM_SNAPSHOT_NAME],
    snapshotNamespace: p[PARAM_SNAPSHOT_NAMESPACE],
    snapshotContentName: p[PARAM_SNAPSHOT_CONTENT_NAME],
  };
}

/** How the controller copies a volume: frozen if staged here, with the freeze logged (design: Freeze). */
export function copyOptions(ctx: ServiceContext) {
  const maxFreezeMs = Number(process.env.QUARRY_MAX_FREEZE_MS);
  return {
    nodeId: ctx.nodeId,
    holder: 'controller',
    maxFreezeMs: Number.isSafeInteger(maxFreezeMs) && maxFreezeMs > 0 ? maxFreezeMs : undefined,
    onThawError: (err: Error) =>
      ctx.logger.error({ err: err.message }, 'could not thaw a filesystem at the freeze deadline; the sweep retries'),
  };
}
