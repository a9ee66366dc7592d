import { isNoSpace, noSpace } from './image-file.js';
import { digHoles, preallocate, punchHole } from '../host/fallocate.js';
import { unwrittenRanges } from '../host/filefrag.js';
import type { VolumeId } from '../domain/ids.js';
import type { Provisioning } from '../domain/volume.js';
import type { ImagePool } from './image-pool.js';
import type { VolumeRecord } from './records.js';

export interface ProvisioningChange {
  record: VolumeRecord;
  /** Thick → thin of a volume in use: the space comes back as the filesystem discards, not now. */
  spaceReturnedLater: boolean;
}

const withProvisioning = (v: VolumeRecord, p: Provisioning): VolumeRecord => ({
  ...v,
  provisioning: p,
  parameters: { ...v.parameters, provisioning: p },
});

/**
 * Turns a live volume thin or thick (design: Volume attributes).
 * - To thick: the whole size is promised first (refused if the pool cannot hold it now, as for a new
 *   thick volume), the record says thick, then fallocate allocates every hole of the image. That does
 *   not touch data, so it is safe while the volume is in use. A failure for lack of space turns the
 *   record back to thin; a crash leaves 'thick' and the retry allocates again (idempotent).
 * - To thin: the record stops promising the whole size. Zeroed blocks are given back at once only if
 *   no node uses the image (dig-holes reads then punches, which would race a writer); a volume in use
 *   gives them back as its filesystem discards, which the loop device turns into punched holes.
 */
export async function changeProvisioning(pool: ImagePool, id: VolumeId, target: Provisioning): Promise<ProvisioningChange> {
  const image = pool.volumeImagePath(id);
  const { before, after } = await pool.withLock(async () => {
    const v = await pool.requireVolume(id);
    if (v.provisioning === target) return { before: v, after: v };
    if (target === 'thick') await pool.ensureRoom(id, v.sizeBytes, true);
    const next = withProvisioning(v, target);
    await pool.volumes.write(next);
    return { before: v, after: next };
  });
  if (target === 'thick') {
    try {
      // Owned bytes only grow here; counted as none until measured again (design: Capacity).
      await pool.whileImageChanges(id, () => preallocate(image, after.sizeBytes));
    } catch (err) {
      if (before.provisioning !== 'thick')
        await pool.updateVolume(id, (v) => withProvisioning(v, before.provisioning)).catch(() => undefined);
      if (isNoSpace(err)) throw noSpace(`making volume ${id} thick`);
      throw err;
    }
    return { record: after, spaceReturnedLater: false };
  }
  const inUse = after.staging.length > 0 || after.publications.length > 0 || after.attachments.length > 0;
  // Punching holes frees space the image owned: the ledger must not count both (design: Capacity).
  if (!inUse) await pool.whileImageChanges(id, () => giveBackZeroes(image));
  return { record: after, spaceReturnedLater: inUse };
}

/**
 * Frees the blocks of an unused image that read as zeroes: written zeroes (dig-holes), and the
 * preallocated, never-written extents a thick image is made of, which dig-holes skips on XFS.
 */
async function giveBackZeroes(image: string): Promise<void> {
  await digHoles(image);
  for (const r of await unwrittenRanges(image)) await punchHole(image, r.offset, r.length);
}
