import { rm, rmdir, stat } from 'node:fs/promises';
import { failedPrecondition } from '../../domain/errors.js';
import { unmount } from '../../host/mount.js';
import { mountsAt } from '../../host/mountinfo.js';
import type { ServiceContext } from '../context.js';
import { requireVolume, requireField } from '../lookup.js';
import { withoutPublication } from './node-records.js';
import { checkRequestPath } from './paths.js';

/**
 * Unmount the target, prove from mountinfo that nothing is mounted there, and
 * only then remove the target (an empty directory or the block device's file,
 * never recursively). Succeeds when the target is already gone.
 */
export async function nodeUnpublishVolume(ctx: ServiceContext, req: { volume_id?: string; target_path?: string }) {
  const rawId = requireField(req.volume_id, 'volume_id');
  const targetPath = checkRequestPath(req.target_path, 'target_path');
  return ctx.locks.run(`volume:${rawId}`, async () => {
    const vol = await requireVolume(ctx, rawId);
    await unmount(targetPath);
    await removeTarget(targetPath);
    await vol.pool.updateVolume(vol.id, (v) => withoutPublication(v, ctx.nodeId!, targetPath));
    return {};
  });
}

async function removeTarget(targetPath: string) {
  if ((await mountsAt(targetPath)).length > 0) {
    throw failedPrecondition(`${targetPath} is still mounted; it was not removed`);
  }
  let info;
  try {
    info = await stat(targetPath);
  } catch {
    return; // already gone
  }
  if (info.isDirectory()) await rmdir(targetPath);
  else await rm(targetPath, { recursive: false });
}
