import { echo } from '../../domain/clip.js';
import { alreadyExists, invalidArgument, notFound } from '../../domain/errors.js';
import { groupSnapshotIdForName, parseVolumeId, type VolumeId } from '../../domain/ids.js';
import { createGroupSnapshot } from '../../storage/group-snapshots.js';
import type { ImagePool } from '../../storage/image-pool.js';
import type { ServiceContext } from '../context.js';
import { copyOptions } from '../controller/create-snapshot.js';
import { findGroup } from './find-group.js';
import { groupSnapshotMessage } from './group-response.js';
import type { RequestScope } from '../request-scope.js';
import type { CallContext, CreateVolumeGroupSnapshotRequest, CreateVolumeGroupSnapshotResponse } from '../../wire/types.js';

/** Added by csi-snapshotter --extra-create-metadata; accepted and not kept (the members carry the group's name). */
const ACCEPTED = [
  'csi.storage.k8s.io/volumegroupsnapshot/name',
  'csi.storage.k8s.io/volumegroupsnapshot/namespace',
  'csi.storage.k8s.io/volumegroupsnapshotcontent/name',
];

/**
 * Idempotent by name: the group's ID and its members' IDs derive from it. All members must be in
 * one pool of this host, since only there can they be frozen together and reflinked.
 */
export async function createVolumeGroupSnapshot(
  ctx: ServiceContext,
  req: CreateVolumeGroupSnapshotRequest,
  call?: CallContext,
): Promise<CreateVolumeGroupSnapshotResponse> {
  const name = req.name ?? '';
  if (!name) throw invalidArgument('name is required');
  const raw = req.source_volume_ids ?? [];
  if (raw.length === 0) throw invalidArgument('source_volume_ids must not be empty');
  const dup = raw.find((v, i) => raw.indexOf(v) !== i);
  if (dup) throw invalidArgument(`source volume ${echo(dup)} is listed twice`);
  const unknown = Object.keys(req.parameters ?? {}).filter((k) => !ACCEPTED.includes(k));
  if (unknown.length > 0)
    throw invalidArgument(
      `unknown group snapshot parameter ${unknown.map((k) => `"${echo(k)}"`).join(', ')}; accepted keys are: ${ACCEPTED.join(', ')}`,
    );
  const id = groupSnapshotIdForName(name);
  return ctx.locks.runFor(
    call?.scope,
    `group:${id}`,
    async () => {
      const sources = [...raw].sort();
      const existing = await findGroup(ctx, id);
      if (existing) {
        const had = existing.members.map((m) => m.sourceVolumeId).sort();
        if (had.join(',') !== sources.join(',')) {
          throw alreadyExists(`group snapshot ${name} already exists for volumes ${had.join(', ')}, not ${sources.join(', ')}`);
        }
      }
      const pool = await commonPool(ctx, sources);
      const ids = sources as VolumeId[];
      // Every source waits: none can be deleted or expanded while the group is cut.
      const members = await holdAll(
        ctx,
        call?.scope,
        ids.map((v) => `volume:${v}`),
        () => createGroupSnapshot(pool, { id, name, sourceVolumeIds: ids }, { ...copyOptions(ctx), holder: 'controller' }),
      );
      return { group_snapshot: groupSnapshotMessage(id, members) };
    },
    `group snapshot name ${name}`,
  );
}

/** The one pool holding every source, or an error naming the volumes that are elsewhere. */
async function commonPool(ctx: ServiceContext, sources: string[]): Promise<ImagePool> {
  const byPool = new Map<string, string[]>();
  const missing: string[] = [];
  let pool: ImagePool | undefined;
  for (const raw of sources) {
    const id = parseVolumeId(raw);
    const found = id && (await ctx.pools.findVolume(id));
    if (found?.record.state !== 'ready') {
      missing.push(echo(raw));
      continue;
    }
    pool = found.pool;
    byPool.set(found.pool.name, [...(byPool.get(found.pool.name) ?? []), raw]);
  }
  if (missing.length > 0) {
    const where =
      ctx.mode === 'local' ? ` on node ${ctx.nodeId}; in local mode all members of a group must live on one node, in one pool` : '';
    throw notFound(`source volume ${missing.join(', ')} does not exist${where}`);
  }
  if (byPool.size > 1) {
    const list = [...byPool].map(([p, vols]) => `pool ${p}: ${vols.join(', ')}`).join('; ');
    throw invalidArgument(
      `the members of a group snapshot must all be in one pool, so they can be frozen and copied together; these are not (${list})`,
    );
  }
  return pool!;
}

/** Takes the keys in order (sorted by the caller), so two groups sharing volumes cannot deadlock. */
function holdAll<T>(ctx: ServiceContext, scope: RequestScope | undefined, keys: string[], fn: () => Promise<T>): Promise<T> {
  if (keys.length === 0) return fn();
  return ctx.locks.runFor(scope, keys[0]!, () => holdAll(ctx, scope, keys.slice(1), fn));
}
