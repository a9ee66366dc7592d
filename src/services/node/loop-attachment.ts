import { failedPrecondition } from '../../domain/errors.js';
import type { ServiceContext } from '../context.js';
import type { HostOps, LoopInfo, MountEntry as MountInfoEntry } from '../host-ops.js';

/**
 * A loop device that can serve the image: its backing file not deleted, and no detach pending. A
 * detach asked while another process held the device open leaves it bound until that process
 * closes it; a bind of the device node does not hold it, so a pod given it would read nothing.
 */
function isLive(l: LoopInfo): boolean {
  return !l.backingFileDeleted && !l.autoclear;
}

/**
 * The loop device of an image: the existing live attachment with the same
 * read-only flag if there is one (found through the loop devices' backing
 * files, so it survives restarts of this process), otherwise a new one with
 * direct I/O. A read-only publication of a block volume gets its own
 * read-only loop device: a read-only bind of a device node does not stop writes.
 */
export async function ensureLoop(ctx: ServiceContext, imagePath: string, readOnly: boolean): Promise<string> {
  const existing = (await ctx.host.loops.findByBackingFile(imagePath)).filter((l) => isLive(l) && l.readOnly === readOnly);
  if (existing.length > 0) return existing[0]!.device;
  const r = await ctx.host.loops.attach(imagePath, { directIo: true, readOnly });
  if (r.directIoFallback) {
    ctx.logger.warn({ image: imagePath, device: r.device, reason: r.directIoFallback }, 'loop device attached without direct I/O');
  }
  return r.device;
}

/** The staged loop device of an image: the live writable one if there is one. */
export async function currentLoop(host: HostOps, imagePath: string): Promise<string | undefined> {
  const loops = (await host.loops.findByBackingFile(imagePath)).filter(isLive);
  return (loops.find((l) => !l.readOnly) ?? loops[0])?.device;
}

/** Every mount that shows one of the image's loop devices: filesystem mounts and binds of the device nodes. */
export async function mountsOfImageLoops(host: HostOps, imagePath: string): Promise<MountInfoEntry[]> {
  const entries = await host.mounts.read();
  const out: MountInfoEntry[] = [];
  for (const l of await host.loops.findByBackingFile(imagePath)) out.push(...(await host.mounts.ofDevice(l.device, entries)));
  return out;
}

/** The image's loop devices a detach left: still mounted (not touched), or held open by another process. */
export interface LoopsLeft {
  mounted: string[];
  /** Detach asked, but another process still holds the device open: the kernel clears it at that last close. */
  held: string[];
}

/** Detaches every loop device of the image that nothing has mounted any more. */
export async function detachUnusedLoops(host: HostOps, imagePath: string): Promise<LoopsLeft> {
  const mounted: string[] = [];
  let detached = false;
  for (const loop of await host.loops.findByBackingFile(imagePath)) {
    if ((await host.mounts.ofDevice(loop.device)).length > 0) {
      mounted.push(loop.device);
      continue;
    }
    await host.loops.detach(loop.device);
    detached = true;
  }
  if (!detached) return { mounted, held: [] };
  const held = (await host.loops.findByBackingFile(imagePath)).map((l) => l.device).filter((d) => !mounted.includes(d));
  return { mounted, held };
}

/**
 * Refuses to report a volume gone from this node while a loop device of it is held open by
 * another process: it can still be written through that device, as a busy mount can. The kernel
 * detaches it at that process's last close, and a retry then succeeds.
 */
export function refuseWhileHeld(volumeId: string, left: LoopsLeft): void {
  if (left.held.length === 0) return;
  throw failedPrecondition(
    `loop device ${left.held.join(', ')} of volume ${volumeId} is still open in another process on this node ` +
      '(see fuser -v on it); the kernel detaches it when that process closes it; retry then',
  );
}
