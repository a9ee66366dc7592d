import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { SnapshotId, VolumeId } from '../domain/ids.js';
import { syncDir, tempFileTarget } from './durable-file.js';
import { poolSubdirs } from './pool-dir.js';
import type { ImagePool } from './image-pool.js';
import type { PoolRecord } from './records.js';
import { deleteSnapshot } from './snapshots.js';

/** A 'creating' record this old belongs to a request the CO gave up on (its PVC or snapshot was deleted). */
export const ABANDONED_AFTER_MS = 15 * 60_000;

export interface Recovered {
  kind: 'volume' | 'snapshot';
  id: string;
  name: string;
  was: 'creating' | 'deleting';
  /** Set when the clean-up failed; the object is left for a retry or an admin. */
  error?: string;
}

/**
 * Run once by a controller before it serves. Finishes deletions a crash
 * interrupted, and removes creations nobody came back for: a CO normally
 * retries a failed CreateVolume, but not after its claim is deleted, and
 * then the half-made object would hold its capacity forever. Recent
 * 'creating' records are left for the retry to finish.
 */
export async function recoverInterrupted(pool: ImagePool, now = Date.now(), abandonedAfterMs = ABANDONED_AFTER_MS): Promise<Recovered[]> {
  const done: Recovered[] = [];
  const unfinished = (r: PoolRecord) =>
    r.state === 'deleting' || (r.state === 'creating' && now - Date.parse(r.createdAt) > abandonedAfterMs);
  const attempt = async (r: PoolRecord, remove: () => Promise<void>) => {
    const entry: Recovered = { kind: r.kind, id: r.id, name: r.name, was: r.state as Recovered['was'] };
    try {
      await remove();
    } catch (err) {
      entry.error = (err as Error).message;
    }
    done.push(entry);
  };
  for (const v of (await pool.listVolumes()).filter(unfinished)) await attempt(v, () => pool.deleteVolume(v.id as VolumeId));
  for (const s of (await pool.listSnapshots()).filter(unfinished)) await attempt(s, () => deleteSnapshot(pool, s.id as SnapshotId));
  return done;
}

/** Node registrations are written without the pool lock: only a temp file this old is surely abandoned. */
export const NODE_TEMP_MIN_AGE_MS = 5 * 60_000;

/**
 * Removes the temporary record files a process killed mid-write left behind (design: Recovery).
 * Only our own pattern (`.<id>.json.<hex>.tmp`), only regular files, only in the pool's record
 * directories, and under the pool lock. A volume record may be prepared (written to its temporary
 * file) before the lock is taken; one swept away meanwhile is written again when it is committed
 * (RecordStore.commit), so sweeping it costs a rewrite, never a record. Node registrations
 * are not written under it, so their temporary files must also be old. Returns the paths removed.
 */
export async function sweepTempRecords(pool: ImagePool, now = Date.now()): Promise<string[]> {
  return pool.withLock(async () => {
    const removed: string[] = [];
    const dirs: Array<[string, number]> = [
      [pool.volumes.dir, 0],
      [pool.snapshots.dir, 0],
      [poolSubdirs(pool.root).nodes, NODE_TEMP_MIN_AGE_MS],
    ];
    for (const [dir, minAgeMs] of dirs) {
      const before = removed.length;
      const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return [] as string[];
        throw err;
      });
      for (const name of names) {
        if (!tempFileTarget(name)?.endsWith('.json')) continue;
        const path = join(dir, name);
        const st = await lstat(path);
        if (!st.isFile() || now - st.mtimeMs < minAgeMs) continue;
        await rm(path);
        removed.push(path);
      }
      if (removed.length > before) await syncDir(dir);
    }
    return removed;
  });
}
