import { stat } from 'node:fs/promises';
import { findLoopsByBackingFile } from '../../host/losetup.js';
import { mountsAt, mountsOfDevice, readMountInfo, splitDev, type MountInfoEntry } from '../../host/mountinfo.js';
import type { FoundVolume } from '../lookup.js';

/**
 * What of a volume is at a path on this node (design: Node staging). A mount is the volume's
 * only when it shows one of the loop devices backed by the volume's image (device+inode), never
 * because of where it is or what the CO says is there.
 */
export interface PathState {
  /** Every mount at the path, bottom first. */
  stack: MountInfoEntry[];
  /** The mounts in `stack` that show the volume's loop devices. */
  ours: MountInfoEntry[];
  /** The mounts in `stack` that are not the volume's. */
  foreign: MountInfoEntry[];
  /** The volume's loop devices on this node (any mount namespace attached them). */
  loops: string[];
}

export async function volumeLoops(vol: FoundVolume): Promise<string[]> {
  return (await findLoopsByBackingFile(vol.pool.volumeImagePath(vol.id))).map((l) => l.device);
}

export async function pathState(vol: FoundVolume, path: string): Promise<PathState> {
  const loops = await volumeLoops(vol);
  const entries = await readMountInfo();
  const stack = await mountsAt(path, entries);
  const ours: MountInfoEntry[] = [];
  for (const m of stack) if (await showsAnyLoop(m, loops)) ours.push(m);
  return { stack, ours, foreign: stack.filter((m) => !ours.includes(m)), loops };
}

/** The topmost mount at the path is the volume's. */
export function topIsOurs(s: PathState): boolean {
  const top = s.stack[s.stack.length - 1];
  return Boolean(top && s.ours.includes(top));
}

async function showsAnyLoop(m: MountInfoEntry, loops: string[]): Promise<boolean> {
  for (const d of loops) if ((await mountsOfDevice(d, [m])).length > 0) return true;
  return false;
}

/** Every mount of the volume's loop devices on this node, wherever it is. */
export async function mountsOfVolume(loops: string[]): Promise<MountInfoEntry[]> {
  const entries = await readMountInfo();
  const out: MountInfoEntry[] = [];
  for (const d of loops) for (const m of await mountsOfDevice(d, entries)) if (!out.includes(m)) out.push(m);
  return out;
}

/** For messages: what a mount is. */
export function describeMount(m: MountInfoEntry): string {
  return `${m.source} (${m.fsType}${m.root !== '/' ? `, ${m.root}` : ''})`;
}

/** Whether a device node at `path` is the block device `device` (same rdev). */
export async function isDeviceNodeOf(path: string, device: string): Promise<boolean> {
  try {
    const [a, b] = await Promise.all([stat(path, { bigint: true }), stat(device, { bigint: true })]);
    if (!a.isBlockDevice() || !b.isBlockDevice()) return false;
    const x = splitDev(a.rdev);
    const y = splitDev(b.rdev);
    return x.major === y.major && x.minor === y.minor;
  } catch {
    return false;
  }
}
