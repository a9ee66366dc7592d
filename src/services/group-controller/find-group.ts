import { invalidArgument } from '../../domain/errors.js';
import type { GroupSnapshotId } from '../../domain/ids.js';
import { groupMembers } from '../../storage/group-snapshots.js';
import type { ImagePool } from '../../storage/image-pool.js';
import type { SnapshotRecord } from '../../storage/records.js';
import type { ServiceContext } from '../context.js';

export interface FoundGroup {
  pool: ImagePool;
  members: SnapshotRecord[];
}

/** The group's members; they all live in one pool, so the first pool holding any is the group's. */
export async function findGroup(ctx: ServiceContext, id: GroupSnapshotId): Promise<FoundGroup | undefined> {
  for (const pool of ctx.pools.pools.values()) {
    const members = await groupMembers(pool, id);
    if (members.length > 0) return { pool, members };
  }
  return undefined;
}

/** A group is whole when every member it was made with is there and ready. */
export function isWhole(g: FoundGroup): boolean {
  const size = g.members[0]?.group?.size ?? 0;
  return g.members.length === size && g.members.every((m) => m.state === 'ready');
}

/**
 * The CO may list the member snapshot IDs it knows; one that is not a member of this group is
 * a mismatch the caller must hear about rather than a silent partial answer.
 */
export function checkSnapshotIds(groupId: string, members: SnapshotRecord[], snapshotIds: string[] | null | undefined): void {
  const known = new Set(members.map((m) => m.id));
  const strangers = (snapshotIds ?? []).filter((s) => !known.has(s));
  if (strangers.length > 0) {
    throw invalidArgument(`snapshot ${strangers.join(', ')} is not a member of group snapshot ${groupId}`);
  }
}
