// Checks for one --pool: path, ownership (Quarry pool or empty), writability, free space, reflink support.
import { constants } from 'node:fs';
import { access, mkdtemp, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { GiB } from '../domain/bytes.js';
import { probeReflink } from '../host/copy.js';
import { filesystemStats } from '../host/statfs.js';
import { classifyPoolDir, POOL_MARKER, type PoolDirKind } from '../storage/pool-dir.js';
import { errorText, fail, ok, warn, type CheckResult } from './result.js';

export interface PoolSpec {
  name: string;
  path: string;
}

/** Below this much free space the pool gets a warning. */
export const LOW_SPACE_BYTES = GiB;

export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function decideFreeSpace(check: string, available: number, total: number): CheckResult {
  const detail = `${humanBytes(available)} free of ${humanBytes(total)}`;
  return available < LOW_SPACE_BYTES
    ? warn(check, `only ${detail}`, 'free space on the pool filesystem or grow it before creating volumes')
    : ok(check, detail);
}

export function decideReflink(check: string, reflink: boolean): CheckResult {
  return reflink
    ? ok(check, 'instant copy-on-write snapshots')
    : warn(
        check,
        'snapshots will be sparse copies (use XFS with reflink=1 or btrfs)',
        'put the pool on XFS made with mkfs.xfs -m reflink=1, or on btrfs',
      );
}

export async function checkPool(pool: PoolSpec): Promise<CheckResult[]> {
  const label = `pool ${pool.name}`;
  const { path } = pool;
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return [fail(label, `${path} does not exist`, `create an empty directory: mkdir -p ${path}`)];
    }
    return [fail(label, `cannot stat ${path}: ${errorText(err)}`, 'run quarry doctor as root')];
  }
  if (!info.isDirectory()) return [fail(label, `${path} is not a directory`, `pass a directory with --pool ${pool.name}=/path/to/dir`)];

  let kind: PoolDirKind;
  try {
    kind = await classifyPoolDir(path);
  } catch (err) {
    return [fail(label, `cannot list ${path}: ${errorText(err)}`, 'run quarry doctor as root')];
  }

  const space = await filesystemStats(path).then(
    (s) => decideFreeSpace(`${label} free space`, s.availableBytes, s.totalBytes),
    (err: unknown) => warn(`${label} free space`, `cannot statfs ${path}: ${errorText(err)}`),
  );

  if (kind === 'foreign') {
    return [
      fail(
        label,
        `${path} is a non-empty directory that Quarry did not create (no ${POOL_MARKER}); nothing was written into it`,
        `pass an empty directory or an existing Quarry pool with --pool ${pool.name}=/path`,
      ),
      space,
      warn(`${label} reflink`, 'not probed: doctor writes nothing into a directory Quarry does not own'),
    ];
  }

  const what = kind === 'empty' ? 'an empty directory (becomes a pool on first start)' : 'a Quarry pool';
  const notWritable = (why: string) =>
    fail(label, `${path} is ${what} but not writable: ${why}`, `make ${path} writable by root (check ro mounts and permissions)`);
  try {
    await access(path, constants.W_OK);
  } catch (err) {
    return [notWritable(errorText(err)), space, warn(`${label} reflink`, 'not probed: the pool is not writable')];
  }

  // Real write test and reflink probe, in a temp subdirectory that is always removed.
  let probeDir: string;
  try {
    probeDir = await mkdtemp(join(path, '.quarry-doctor-'));
  } catch (err) {
    return [notWritable(errorText(err)), space, warn(`${label} reflink`, 'not probed: the pool is not writable')];
  }
  let reflink: CheckResult;
  try {
    reflink = decideReflink(`${label} reflink`, await probeReflink(probeDir));
  } catch (err) {
    reflink = warn(`${label} reflink`, `probe failed: ${errorText(err)}`);
  } finally {
    await rm(probeDir, { recursive: true, force: true });
  }
  return [ok(label, `${path} is ${what}, writable`), space, reflink];
}
