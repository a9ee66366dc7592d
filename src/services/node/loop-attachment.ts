import { attachLoop, detachLoop, findLoopsByBackingFile } from '../../host/losetup.js';
import { mountsOfDevice } from '../../host/mountinfo.js';
import type { ServiceContext } from '../context.js';

/**
 * The loop device of an image: the existing attachment if there is one (found
 * through the loop devices' backing files, so it survives restarts of this
 * process), otherwise a new one with direct I/O.
 */
export async function ensureLoop(ctx: ServiceContext, imagePath: string, readOnly: boolean): Promise<string> {
  const existing = (await findLoopsByBackingFile(imagePath)).filter((l) => !l.backingFileDeleted);
  if (existing.length > 0) return existing[0]!.device;
  const r = await attachLoop(imagePath, { directIo: true, readOnly });
  if (r.directIoFallback) {
    ctx.logger.warn({ image: imagePath, device: r.device, reason: r.directIoFallback }, 'loop device attached without direct I/O');
  }
  return r.device;
}

export async function currentLoop(imagePath: string): Promise<string | undefined> {
  const loops = (await findLoopsByBackingFile(imagePath)).filter((l) => !l.backingFileDeleted);
  return loops[0]?.device;
}

/** Detaches every loop device of the image that nothing has mounted any more. */
export async function detachUnusedLoops(imagePath: string): Promise<string[]> {
  const kept: string[] = [];
  for (const loop of await findLoopsByBackingFile(imagePath)) {
    if ((await mountsOfDevice(loop.device)).length > 0) {
      kept.push(loop.device);
      continue;
    }
    await detachLoop(loop.device);
  }
  return kept;
}
