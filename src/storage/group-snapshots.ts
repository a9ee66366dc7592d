import { rename, rm } from 'node:fs/promises';
import { failedPrecondition, notFound } from '../domain/errors.js';
import { snapshotIdForName, type GroupSnapshotId, type SnapshotId, type VolumeId } from '../domain/ids.js';
import { allocatedBytes } from '../host/fallocate.js';
import { syncDir } from './durable-file.js';
import { faultPoint } from './fault-points.js';
import { planConsistentCopy, type CopyPlan } from './copy-plan.js';
import { noSpace } from './image-file.js';
import type { ImagePool } from './image-pool.js';
import { RECORD_FORMAT, type SnapshotRecord, type VolumeRecord } from './records.js';
import { copyConsistently, deleteSnapshot, type SnapshotCopyOptions } from './snapshots.js';

export interface NewGroupSnapshot {
  id: GroupSnapshotId;
  name: string;
  sourceVolumeIds: VolumeId[];
}

/** A member's ID derives from the group's name and its source: a retry finds the same members. */
export function groupMemberId(groupName: string, sourceVolumeId: string): SnapshotId {
  return snapshotIdForName(`group/${groupName}/${sourceVolumeId}`);
}

/** The members of a group found in one pool, in the order of their source volume IDs. */
export async function groupMembers(pool: ImagePool, groupId: string): Promise<SnapshotRecord[]> {
  const all = await pool.listSnapshots();
  return all.filter((s) => s.group?.id === groupId).sort((a, b) => a.sourceVolumeId.localeCompare(b.sourceVolumeId));
}

interface PlannedMember {
  record: SnapshotRecord;
  plan: CopyPlan;
}

/**
 * Snapshots several volumes of one pool at one instant (design: Group snapshots): every member
 * staged on this host is frozen (each freeze recorded before it happens), then every image is
 * copied, and only then is any member thawed. A failure at any step thaws everything and removes
 * every member, so no partial group is left. A group found whole and ready is returned as it is;
 * one a crash left half-made is discarded and made anew, since its members would not share an instant.
 */
export async function createGroupSnapshot(
  pool: ImagePool,
  spec: NewGroupSnapshot,
  opts: SnapshotCopyOptions = {},
): Promise<SnapshotRecord[]> {
  const memberIds = spec.sourceVolumeIds.map((v) => groupMemberId(spec.name, v));
  const found = await groupMembers(pool, spec.id);
  if (found.length === memberIds.length && found.every((m) => m.state === 'ready')) return found;
  await discardMembers(pool, [...new Set([...memberIds, ...found.map((m) => m.id as SnapshotId)])]);
  try {
    const planned = await reserveMembers(pool, spec, memberIds, opts);
    faultPoint('create-group-snapshot:after-records');
    await copyAllFrozen(pool, planned, opts, 0, async () => {
      for (const m of planned) {
        await rm(pool.snapshotPartialImagePath(m.record.id), { force: true });
        await pool.copyImage(pool.volumeImagePath(m.record.sourceVolumeId), pool.snapshotPartialImagePath(m.record.id));
      }
    });
    faultPoint('create-group-snapshot:after-copies');
    for (const m of planned) await rename(pool.snapshotPartialImagePath(m.record.id), pool.snapshotImagePath(m.record.id));
    await syncDir(pool.snapshots.dir);
    const held = await Promise.all(planned.map((m) => allocatedBytes(pool.snapshotImagePath(m.record.id))));
    return await pool.withLock(async () => {
      const ready = planned.map((m, i): SnapshotRecord => ({ ...m.record, state: 'ready', allocatedBytes: held[i] }));
      for (const r of ready) await pool.snapshots.write(r);
      return ready;
    });
  } catch (err) {
    await discardMembers(pool, memberIds);
    // The pool's own refusal (ensureRoom) already says how much is missing; a copy's ENOSPC does not.
    if ((err as NodeJS.ErrnoException)?.code === 'ENOSPC') throw noSpace(`group snapshot ${spec.name}`);
    throw err;
  }
}

/**
 * Under the pool lock: checks every source, plans its copy and reserves its space, as 'creating'
 * records. Members that are idle or frozen here do not change during the copies; a member in use
 * where it cannot be frozen is copied by one atomic reflink. One such member still leaves the group
 * at one instant (everything else stands still); two would be cut at two instants, so that is refused.
 */
async function reserveMembers(
  pool: ImagePool,
  spec: NewGroupSnapshot,
  memberIds: SnapshotId[],
  opts: SnapshotCopyOptions,
): Promise<PlannedMember[]> {
  return pool.withLock(async () => {
    const sources: VolumeRecord[] = [];
    const plans: CopyPlan[] = [];
    for (const sourceId of spec.sourceVolumeIds) {
      const source = await pool.volumes.read(sourceId);
      if (source?.state !== 'ready') throw notFound(`volume ${sourceId} does not exist`);
      sources.push(source);
      plans.push(await planConsistentCopy(pool, source, opts.nodeId, 'group snapshot'));
    }
    const moving = sources.filter((s, i) => !plans[i]!.freezeMountPath && (s.staging.length > 0 || s.publications.length > 0));
    if (moving.length > 1) {
      throw failedPrecondition(
        `cannot cut group snapshot ${spec.name} at one instant: volumes ${moving.map((s) => s.id).join(', ')} ` +
          'are in use where Quarry cannot freeze them ' +
          `(only a filesystem staged on this host${opts.nodeId ? `, ${opts.nodeId},` : ''} can be frozen), ` +
          'and separate reflinks of two changing volumes hold two instants. ' +
          'Stop the pods using all but one of them, or take the group on the node where they are staged',
      );
    }
    const createdAt = new Date().toISOString();
    const out: PlannedMember[] = [];
    for (const [i, source] of sources.entries()) {
      const id = memberIds[i]!;
      const reserve = await allocatedBytes(pool.volumeImagePath(source.id));
      await pool.ensureRoom(id, reserve, !pool.reflink);
      const record: SnapshotRecord = {
        format: RECORD_FORMAT,
        kind: 'snapshot',
        id,
        name: `group/${spec.name}/${source.id}`,
        pool: pool.name,
        state: 'creating',
        sourceVolumeId: source.id,
        sizeBytes: source.sizeBytes,
        fsType: source.fsType,
        createdAt,
        parameters: {},
        allocatedBytes: reserve,
        group: { id: spec.id, name: spec.name, size: memberIds.length },
      };
      await pool.snapshots.write(record);
      out.push({ record, plan: plans[i]! });
    }
    return out;
  });
}

/**
 * Freezes member i (if its plan says so), then the rest, then copies; thaws on the way out, so
 * no member is thawed before every copy has ended. Each freeze keeps its own recorded deadline.
 */
function copyAllFrozen(
  pool: ImagePool,
  members: PlannedMember[],
  opts: SnapshotCopyOptions,
  i: number,
  copy: () => Promise<void>,
): Promise<void> {
  if (i === members.length) return copy();
  const m = members[i]!;
  return copyConsistently(pool, m.record.sourceVolumeId as VolumeId, m.plan, opts, () => copyAllFrozen(pool, members, opts, i + 1, copy));
}

/** Removes members and their images: what a failed or interrupted group leaves. */
export async function discardMembers(pool: ImagePool, ids: SnapshotId[]): Promise<void> {
  for (const id of ids) {
    await rm(pool.snapshotPartialImagePath(id), { force: true });
    await deleteSnapshot(pool, id);
  }
}
