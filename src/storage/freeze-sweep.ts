/** Freezes no live copy holds any more: thawed at start, past their deadline, or when a node operation meets one. */
import { unavailable } from '../domain/errors.js';
import type { VolumeId } from '../domain/ids.js';
import { thaw } from '../host/fsfreeze.js';
import { topMountAt } from '../host/mountinfo.js';
import type { ImagePool } from './image-pool.js';
import type { VolumeRecord } from './records.js';

/**
 * Thaws the freezes recorded on this node that no live copy holds any more: at start, those its
 * own kind of process took (`startOf`: the process that took them is gone, since this one replaced
 * it), and always those past their deadline. Only a path the record still lists as the volume's
 * staging on this node is thawed. Returns what it thawed.
 */
export async function thawRecordedFreezes(
  pool: ImagePool,
  nodeId: string,
  opts: { startOf?: string; now?: number; periodic?: boolean },
): Promise<Array<{ volumeId: string; mountPath: string; error?: string }>> {
  const now = opts.now ?? Date.now();
  const out: Array<{ volumeId: string; mountPath: string; error?: string }> = [];
  // The periodic sweep (every 5 s in every process) takes the generation-checked listing: records
  // unchanged since its last pass are not stat'ed or read again. The others read, as they are rare.
  for (const v of await (opts.periodic ? pool.listVolumesForListing() : pool.listVolumes())) {
    const f = v.freeze;
    if (!f || f.nodeId !== nodeId || v.state !== 'ready') continue;
    const expired = !(Date.parse(f.until) >= now);
    if (!expired && f.holder !== opts.startOf) continue;
    const entry: { volumeId: string; mountPath: string; error?: string } = { volumeId: v.id, mountPath: f.mountPath };
    try {
      const staged = v.staging.some((s) => s.nodeId === nodeId && s.stagingPath === f.mountPath);
      if (staged && (await topMountAt(f.mountPath))) await thaw(f.mountPath);
      await pool.updateVolume(v.id as VolumeId, (cur) => {
        if (cur.freeze?.since !== f.since) return cur;
        const { freeze: _, ...rest } = cur;
        return rest;
      });
    } catch (err) {
      entry.error = (err as Error).message;
    }
    out.push(entry);
  }
  return out;
}

/**
 * For node operations: a volume whose filesystem is frozen for a copy on this node is refused at
 * once (UNAVAILABLE, retry later) instead of hanging on the frozen filesystem. A freeze past its
 * deadline is thawed here and the operation goes on.
 */
export async function ensureNotFrozen(pool: ImagePool, v: VolumeRecord, nodeId: string | undefined): Promise<void> {
  const f = v.freeze;
  if (!f || !nodeId || f.nodeId !== nodeId) return;
  if (Date.parse(f.until) < Date.now()) {
    await thawRecordedFreezes(pool, nodeId, {});
    return;
  }
  throw unavailable(
    `volume ${v.id} is frozen at ${f.mountPath} for a snapshot or clone since ${f.since} (at most until ${f.until}); ` +
      `retry in a few seconds`,
  );
}

/** Starts the periodic sweep that thaws freezes past their deadline; returns a stop function. */
export function startFreezeSweeper(
  pools: ImagePool[] | IterableIterator<ImagePool>,
  nodeId: string,
  everyMs: number,
  log: (pool: string, r: { volumeId: string; mountPath: string; error?: string }) => void,
): () => void {
  const all = [...pools];
  const sweep = async () => {
    for (const pool of all) {
      for (const r of await thawRecordedFreezes(pool, nodeId, { periodic: true }).catch(() => [])) log(pool.name, r);
    }
  };
  const timer = setInterval(() => void sweep(), everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
