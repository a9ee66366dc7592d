// Reads /sys (no tool): which loop device a device number is, and what file backs it, without forking losetup.
import { readFile, readlink, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { describeLoop, fileIdentity, sameFile, wasBackedByDeletedImage, type FileIdentity } from './losetup.js';
import { splitDev, type MountInfoEntry } from './mountinfo.js';

const DELETED = ' (deleted)';
const LOOP_NAME = /^loop\d+$/;

/** The loop device (/dev/loopN) with this device number, if it is an attached loop device. */
export async function loopWithDevNumber(major: number, minor: number): Promise<string | undefined> {
  let name: string;
  try {
    name = basename(await readlink(`/sys/dev/block/${major}:${minor}`));
  } catch {
    return undefined;
  }
  if (!LOOP_NAME.test(name)) return undefined;
  return (await backingFileShown(`/dev/${name}`)) ? `/dev/${name}` : undefined;
}

/**
 * The loop device a mount shows: by its device number, or for btrfs (an anonymous device number
 * in mountinfo) by its source. A bind of a device node is found with loopOfDeviceNode instead.
 */
export async function loopOfMount(m: MountInfoEntry): Promise<string | undefined> {
  const byNumber = await loopWithDevNumber(m.major, m.minor);
  if (byNumber) return byNumber;
  const name = m.source.startsWith('/dev/') ? basename(m.source) : '';
  return LOOP_NAME.test(name) && (await backingFileShown(m.source)) ? m.source : undefined;
}

/** The loop device a device node (a published block volume's target file) stands for. */
export async function loopOfDeviceNode(path: string): Promise<string | undefined> {
  try {
    const st = await stat(path, { bigint: true });
    if (!st.isBlockDevice()) return undefined;
    const { major, minor } = splitDev(st.rdev);
    return await loopWithDevNumber(major, minor);
  } catch {
    return undefined;
  }
}

/** /sys/block/loopN/loop/backing_file: the path as the kernel renders it for this namespace; undefined when detached. */
export async function backingFileShown(device: string): Promise<{ path: string; deleted: boolean } | undefined> {
  const name = basename(device);
  if (!LOOP_NAME.test(name)) return undefined;
  let raw: string;
  try {
    raw = (await readFile(`/sys/block/${name}/loop/backing_file`, 'utf8')).replace(/\n$/, '');
  } catch {
    return undefined;
  }
  if (!raw) return undefined;
  return raw.endsWith(DELETED) ? { path: raw.slice(0, -DELETED.length), deleted: true } : { path: raw, deleted: false };
}

/**
 * Whether `device` is backed by the file with this identity. The sysfs path is tried first (no
 * fork): if it names the same inode here, that is proof. Only when it does not (a loop attached in
 * another mount namespace renders another path) does losetup read the kernel's own dev+inode.
 */
export async function loopIsBackedBy(device: string, identity: FileIdentity): Promise<boolean> {
  const shown = await backingFileShown(device);
  if (!shown) return false;
  if (!shown.deleted) {
    const here = await fileIdentity(shown.path);
    if (here && sameFile(here, identity)) return true;
  }
  const described = await describeLoop(device);
  return Boolean(described?.backing && sameFile(described.backing, identity));
}

/** For an image that no longer exists: whether `device`'s backing file was deleted and had the image's name. */
export async function loopBackedByDeletedImage(device: string, imagePath: string): Promise<boolean> {
  const shown = await backingFileShown(device);
  return Boolean(shown?.deleted && (await wasBackedByDeletedImage(shown.path, imagePath)));
}
