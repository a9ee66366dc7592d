import { removeFile } from './durable-file.js';
import { faultPoint } from './fault-points.js';
import { isNoSpace } from './image-file.js';
import type { ImagePool } from './image-pool.js';
import type { RecordStore } from './record-store.js';
import type { PoolRecord } from './records.js';

export interface RemovalOptions<R> {
  /** Fault points `<prefix>:after-mark` and `<prefix>:after-image`. */
  faultPrefix: string;
  /** Throws when the object must not go (a volume still in use). Runs under the pool lock. */
  refuse?: (record: R) => void;
}

/**
 * Deletes one volume or snapshot: marks its record 'deleting', removes its own
 * files (never anything another object needs), then the record. A retry after a
 * crash at any step finishes the job; a missing record is success.
 */
export async function removeObject<R extends PoolRecord>(
  pool: ImagePool,
  store: RecordStore<R>,
  id: string,
  files: string[],
  opts: RemovalOptions<R>,
): Promise<void> {
  const found = await pool.withLock(async () => {
    const r = await store.read(id);
    if (!r) return false;
    opts.refuse?.(r);
    return r.state === 'deleting' || markDeleting(store, r, files);
  });
  faultPoint(`${opts.faultPrefix}:after-mark`);
  for (const f of files) await removeFile(f);
  faultPoint(`${opts.faultPrefix}:after-image`);
  if (!found) return;
  // The directory fsync runs after the lock is released, so concurrent deletions share it; before the answer.
  await pool.withLock(() => store.remove(id, { syncDir: false }));
  await store.sync().catch((err: unknown) => {
    throw pool.readOnlyError(err) ?? err;
  });
}

/**
 * Records the intent to delete. A full pool has no block for the new record, and
 * deleting is how space is freed, so then the files go at once, then the record:
 * a crash in between leaves a record without files that a retried delete removes.
 * False when the object is already gone.
 */
async function markDeleting<R extends PoolRecord>(store: RecordStore<R>, r: R, files: string[]): Promise<boolean> {
  try {
    // Made durable with the removals: the record's removal fsyncs the same directory, and no
    // filesystem persists a later change to a directory without the earlier ones (design: Records).
    await store.write({ ...r, state: 'deleting' }, { syncDir: false });
    return true;
  } catch (err) {
    if (!isNoSpace(err)) throw err;
    for (const f of files) await removeFile(f);
    await store.remove(r.id);
    return false;
  }
}
