// Wraps losetup(8): attach, find, list, detach and resize loop devices over image files.
import { readFile, realpath, stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { bytes, type Bytes } from '../domain/bytes.js';
import { Code, QuarryError } from '../domain/errors.js';
import { HostCommandError, run } from './exec.js';
import { checkAbsolutePath, checkDevicePath, firstLine, mapToolError } from './errors.js';
import { splitDev } from './mountinfo.js';

export interface LoopDevice {
  /** e.g. /dev/loop3 */
  device: string;
  /** The backing file as the kernel reports it, without the " (deleted)" suffix. */
  backingFile: string;
  /** The backing file was unlinked while attached (the kernel shows "(deleted)"). */
  backingFileDeleted: boolean;
  readOnly: boolean;
  directIo: boolean;
  offset: Bytes;
  sizeLimit: Bytes;
  autoclear: boolean;
  /**
   * The backing file's identity as the kernel holds it (LOOP_GET_STATUS64: st_dev and st_ino).
   * Unlike the path string it does not depend on the mount namespace that attached the loop.
   */
  backing?: FileIdentity;
}

/** What a file is, independent of the path that names it: its filesystem's device number and its inode. */
export interface FileIdentity {
  major: number;
  minor: number;
  /** A decimal string: inode numbers may exceed 2^53. */
  inode: string;
}

export function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  return a.major === b.major && a.minor === b.minor && a.inode === b.inode;
}

/** The identity of the file at `path` (symlinks followed), or undefined when there is none. */
export async function fileIdentity(path: string): Promise<FileIdentity | undefined> {
  try {
    const st = await stat(path, { bigint: true });
    return { ...splitDev(st.dev), inode: st.ino.toString() };
  } catch {
    return undefined;
  }
}

export interface AttachOptions {
  /** Ask for direct I/O (default true). If the kernel refuses it, the device is attached without it. */
  directIo?: boolean;
  readOnly?: boolean;
}

export interface AttachResult {
  device: string;
  /** Whether direct I/O is really on, read back from sysfs. */
  directIo: boolean;
  /** Set when direct I/O was asked for and could not be enabled: why. */
  directIoFallback?: string;
}

const LOOP_RE = /^\/dev\/loop\d+$/;

/**
 * Every loop device gets 4 KiB logical sectors. With direct I/O the kernel
 * otherwise takes the backing file's I/O alignment, which on XFS changes from
 * 512 to 4096 once an image shares extents (after a snapshot or clone): a
 * volume's sector size would change under its filesystem or partition table.
 */
export const LOOP_SECTOR_SIZE = 4096;
const DELETED = ' (deleted)';

/**
 * Attaches `imagePath` to a free loop device (`losetup --find --show --direct-io=on`).
 * If direct I/O cannot be enabled (backing filesystem without O_DIRECT, block-size mismatch),
 * the device is kept (or attached again) without it and `directIoFallback` says so.
 */
export async function attachLoop(imagePath: string, opts: AttachOptions = {}): Promise<AttachResult> {
  checkAbsolutePath(imagePath, 'image path');
  const wantDio = opts.directIo ?? true;
  const base = ['--find', '--show', '--sector-size', String(LOOP_SECTOR_SIZE), ...(opts.readOnly ? ['--read-only'] : [])];
  if (!wantDio) {
    const device = await attachOnce([...base, '--direct-io=off', imagePath], imagePath);
    return { device, directIo: await readDio(device) };
  }
  let r;
  try {
    // Exit 1 with a device on stdout: attached, but setting direct I/O failed afterwards.
    r = await run('losetup', [...base, '--direct-io=on', imagePath], { okExitCodes: [1] });
  } catch (err) {
    throw attachError(err, imagePath);
  }
  const device = parseShownDevice(r.stdout);
  if (r.exitCode === 0 && device) {
    const dio = await readDio(device);
    return dio ? { device, directIo: true } : { device, directIo: false, directIoFallback: 'the kernel did not enable direct I/O' };
  }
  const why = firstLine(r.stderr || r.stdout) || 'losetup exited 1';
  if (device && /direct/i.test(r.stderr)) {
    return { device, directIo: await readDio(device), directIoFallback: why };
  }
  if (device) {
    // Attached but failed for another reason: do not leave it behind.
    await detachLoop(device).catch(() => undefined);
    throw new QuarryError(Code.INTERNAL, `losetup attached ${imagePath} to ${device} but failed: ${why}`);
  }
  if (/direct|invalid argument/i.test(r.stderr)) {
    const plain = await attachOnce([...base, '--direct-io=off', imagePath], imagePath);
    return { device: plain, directIo: await readDio(plain), directIoFallback: why };
  }
  throw attachError(new HostCommandError('losetup', [...base, imagePath], 1, r.stderr || r.stdout), imagePath);
}

async function attachOnce(args: string[], imagePath: string): Promise<string> {
  let out: string;
  try {
    out = (await run('losetup', args)).stdout;
  } catch (err) {
    throw attachError(err, imagePath);
  }
  const device = parseShownDevice(out);
  if (!device) throw new QuarryError(Code.INTERNAL, `losetup ${args.join(' ')} printed no device: ${JSON.stringify(out)}`);
  return device;
}

function attachError(err: unknown, imagePath: string): QuarryError {
  if (err instanceof HostCommandError) {
    if (/could not find any free loop device|no free loop/i.test(err.output)) {
      return new QuarryError(
        Code.RESOURCE_EXHAUSTED,
        `no free loop device to attach ${imagePath}: raise max_loop or load the loop module with more devices`,
        { cause: err },
      );
    }
    if (/no such file/i.test(err.output)) {
      return new QuarryError(Code.NOT_FOUND, `image ${imagePath} does not exist`, { cause: err });
    }
  }
  return mapToolError(err, `attaching ${imagePath} to a loop device`);
}

function parseShownDevice(stdout: string): string | undefined {
  const line = stdout
    .trim()
    .split('\n')
    .map((l) => l.trim())
    .find((l) => LOOP_RE.test(l));
  return line;
}

async function readDio(device: string): Promise<boolean> {
  try {
    return (await readFile(`/sys/block/${basename(device)}/loop/dio`, 'utf8')).trim() === '1';
  } catch {
    return false;
  }
}

interface LosetupJson {
  loopdevices?: Array<{
    name: string;
    'back-file': string | null;
    ro: boolean | string;
    dio: boolean | string;
    offset: number | string | null;
    sizelimit: number | string | null;
    autoclear: boolean | string;
    'back-ino'?: number | string | null;
    'back-maj:min'?: string | null;
  }>;
}

/** The columns listLoops asks for: BACK-INO and BACK-MAJ:MIN are the backing file's identity. */
const LIST_COLUMNS = 'NAME,BACK-FILE,BACK-INO,BACK-MAJ:MIN,RO,DIO,OFFSET,SIZELIMIT,AUTOCLEAR';

const truthy = (v: boolean | string | null | undefined) => v === true || v === '1' || v === 'true';
const num = (v: number | string | null | undefined) => bytes(v === null || v === undefined ? 0 : Number(v));

/** Parses `losetup --json --list` output. Exported for unit tests. */
export function parseLosetupJson(text: string): LoopDevice[] {
  if (!text.trim()) return [];
  // Inode numbers as strings before JSON.parse, which would round those above 2^53.
  const parsed = JSON.parse(text.replace(/("back-ino"\s*:\s*)(\d+)/g, '$1"$2"')) as LosetupJson;
  const out: LoopDevice[] = [];
  for (const d of parsed.loopdevices ?? []) {
    const raw = d['back-file'];
    if (raw === null || raw === undefined || raw === '') continue; // not attached
    const deleted = raw.endsWith(DELETED);
    const backing = parseIdentity(d['back-maj:min'], d['back-ino']);
    out.push({
      device: d.name,
      backingFile: deleted ? raw.slice(0, -DELETED.length) : raw,
      backingFileDeleted: deleted,
      readOnly: truthy(d.ro),
      directIo: truthy(d.dio),
      offset: num(d.offset),
      sizeLimit: num(d.sizelimit),
      autoclear: truthy(d.autoclear),
      ...(backing ? { backing } : {}),
    });
  }
  return out;
}

function parseIdentity(majMin: string | null | undefined, ino: number | string | null | undefined): FileIdentity | undefined {
  const m = /^\s*(\d+):(\d+)\s*$/.exec(majMin ?? '');
  const inode = String(ino ?? '').trim();
  if (!m || !/^\d+$/.test(inode)) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), inode };
}

/** Every attached loop device (`losetup --json --list`). */
export async function listLoops(): Promise<LoopDevice[]> {
  let out: string;
  try {
    out = (await run('losetup', ['--json', '--list', '-O', LIST_COLUMNS])).stdout;
  } catch (err) {
    throw mapToolError(err, 'listing loop devices');
  }
  return parseLosetupJson(out);
}

/** One loop device as losetup reports it (with its backing identity), or undefined when it is not attached. */
export async function describeLoop(device: string): Promise<LoopDevice | undefined> {
  checkLoopDevice(device);
  let out: string;
  try {
    out = (await run('losetup', ['--json', '--list', '-O', LIST_COLUMNS, device])).stdout;
  } catch (err) {
    if (err instanceof HostCommandError && /no such device|not a loop|ENXIO|failed to use device/i.test(err.output)) return undefined;
    throw mapToolError(err, `describing ${device}`);
  }
  return parseLosetupJson(out).find((l) => l.device === device);
}

/**
 * Loop devices backed by the file `imagePath` is now: matched by the backing file's device and
 * inode, never by the path string, which the kernel renders relative to the mount namespace that
 * attached the loop (an earlier node-plugin pod shows e.g. "/volumes/<id>.img").
 * When the image no longer exists there is no inode to compare: then loops whose backing file
 * was deleted and had this name (or, from another namespace, a tail of it) are the image's.
 */
export async function findLoopsByBackingFile(imagePath: string): Promise<LoopDevice[]> {
  checkAbsolutePath(imagePath, 'image path');
  const identity = await fileIdentity(imagePath);
  const loops = await listLoops();
  const byInode = identity ? loops.filter((l) => l.backing && sameFile(l.backing, identity)) : [];
  const deleted = loops.filter((l) => l.backingFileDeleted && !byInode.includes(l));
  if (deleted.length === 0) return byInode;
  const names = await namesOf(imagePath);
  return [...byInode, ...deleted.filter((l) => deletedNameMatches(l.backingFile, names))];
}

/**
 * A deleted backing file's path as the kernel showed it is one of `names`, or a tail of one on a component
 * boundary ("/volumes/a.img" of "/pool/volumes/a.img").
 */
function deletedNameMatches(shown: string, names: Set<string>): boolean {
  return [...names].some((full) => shown === full || (shown.startsWith('/') && full.endsWith(shown)));
}

/** Whether a loop whose backing file was deleted (path as the kernel shows it) was the image at `imagePath`. */
export async function wasBackedByDeletedImage(shown: string, imagePath: string): Promise<boolean> {
  return deletedNameMatches(shown, await namesOf(imagePath));
}

async function namesOf(imagePath: string): Promise<Set<string>> {
  const names = new Set([resolve(imagePath)]);
  try {
    names.add(await realpath(imagePath));
  } catch {
    // deleted or never existed: its directory may still resolve
    try {
      names.add(resolve(await realpath(resolve(imagePath, '..')), basename(imagePath)));
    } catch {
      /* nothing more to try */
    }
  }
  return names;
}

/** Detaches a loop device (`losetup -d`). A device that is not attached is already detached: success. */
export async function detachLoop(device: string): Promise<void> {
  checkLoopDevice(device);
  try {
    await run('losetup', ['-d', device]);
  } catch (err) {
    if (err instanceof HostCommandError && /no such device( or address)?|not a loop|ENXIO/i.test(err.output)) return;
    throw mapToolError(err, `detaching ${device}`);
  }
}

/** Makes the loop device pick up a changed size of its backing file (`losetup -c`). */
export async function refreshLoopCapacity(device: string): Promise<void> {
  checkLoopDevice(device);
  try {
    await run('losetup', ['-c', device]);
  } catch (err) {
    throw mapToolError(err, `refreshing the capacity of ${device}`);
  }
}

function checkLoopDevice(device: string): void {
  checkDevicePath(device);
  if (!LOOP_RE.test(device)) throw new QuarryError(Code.INVALID_ARGUMENT, `not a loop device: ${JSON.stringify(device)}`);
}

export { loopSizeBytes } from './blockdev.js';
