// Test helper: throwaway directories and loop-backed scratch filesystems that always clean up after themselves.
import { mkdtemp, realpath, rm, truncate, writeFile, mkdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import * as assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { bytes, MiB, type Bytes } from '../../src/domain/bytes.js';
import type { FsType } from '../../src/domain/volume.js';
import { attachLoop, detachLoop, findLoopsByBackingFile, listLoops, type LoopDevice } from '../../src/host/losetup.js';
import { makeFilesystem } from '../../src/host/mkfs.js';
import { mount, unmount } from '../../src/host/mount.js';
import { mountsOfDevice, mountsUnder, readMountInfo, type MountInfoEntry } from '../../src/host/mountinfo.js';

/** Anything with node:test's `after(fn)`: a TestContext (`t`), or `{ after }` imported from node:test for a suite. */
export interface HasAfter {
  after(fn: () => unknown): void;
}

export const TEMP_PREFIX = 'quarry-test-';

const stacks = new WeakMap<HasAfter, Array<() => unknown>>();

/**
 * Registers `fn` to run after the test, last registered first (node:test runs its own after
 * hooks first registered first). Every step runs even if an earlier one throws; the first error
 * is rethrown at the end so the test reports it.
 */
export function onCleanup(t: HasAfter, fn: () => unknown): void {
  let stack = stacks.get(t);
  if (!stack) {
    const fresh: Array<() => unknown> = [];
    stacks.set(t, fresh);
    stack = fresh;
    t.after(async () => {
      const errors: unknown[] = [];
      while (fresh.length) {
        const step = fresh.pop()!;
        try {
          await step();
        } catch (e) {
          errors.push(e);
        }
      }
      if (errors.length) throw errors.length === 1 ? errors[0] : new AggregateError(errors, 'cleanup failed');
    });
  }
  stack.push(fn);
}

/** Temp dirs made by this process: leakCheck() looks only at these, so parallel test processes don't see each other. */
const ownDirs = new Set<string>();

/** Makes a fresh directory under os.tmpdir() named quarry-test-*, removed after the test (never through a mount). */
export async function makeTempDir(t: HasAfter, label = 'dir'): Promise<string> {
  const dir = await realpath(await mkdtemp(join(tmpdir(), `${TEMP_PREFIX}${label.replace(/[^A-Za-z0-9_-]/g, '_')}-`)));
  ownDirs.add(dir);
  onCleanup(t, () => removeTempDir(dir));
  return dir;
}

/** Removes a temp dir, but only when nothing is mounted at or below it. */
export async function removeTempDir(dir: string): Promise<void> {
  const mounted = await mountsUnder(dir);
  if (mounted.length > 0) {
    throw new Error(`not removing ${dir}: still mounted below it: ${mounted.map((m) => m.mountPoint).join(', ')}`);
  }
  await rm(dir, { recursive: true, force: true });
}

export interface ScratchFsOptions {
  fsType: FsType;
  /** Apparent size of the sparse image; default 512 MiB (xfs needs at least 300 MB). */
  sizeBytes?: number;
  /** xfs only: create with -m reflink=1 (default true). */
  reflink?: boolean;
  /** Attach with direct I/O (default true). */
  directIo?: boolean;
}

export interface ScratchFs {
  fsType: FsType;
  mountPath: string;
  device: string;
  imagePath: string;
  /** The temp dir holding image and mount point. */
  dir: string;
  sizeBytes: Bytes;
  /** Unmount, detach, remove. Safe to call more than once; also registered with t.after. */
  cleanup(): Promise<void>;
}

/**
 * A real filesystem on a loop device over a sparse image in a quarry-test-* temp dir, mounted
 * at <dir>/mnt. Cleanup (unmount every mount below the dir, detach every loop over files below
 * it, remove the dir) is registered with `t.after`, so it runs even when the test fails.
 */
export async function makeScratchFs(t: HasAfter, opts: ScratchFsOptions): Promise<ScratchFs> {
  const dir = await realpath(await mkdtemp(join(tmpdir(), `${TEMP_PREFIX}${opts.fsType}-`)));
  ownDirs.add(dir);
  const imagePath = join(dir, 'image.img');
  const mountPath = join(dir, 'mnt');
  const sizeBytes = bytes(opts.sizeBytes ?? 512 * MiB);
  let done = false;
  let device: string | undefined;
  const cleanup = async (): Promise<void> => {
    if (done) return;
    if (device && (await findLoopsByBackingFile(imagePath)).some((l) => l.device === device)) {
      // Mounts of our own device outside the dir (a bind of a subdirectory elsewhere) keep it busy.
      // Those inside are cleanupDir's: it also detaches loops over images on this filesystem first,
      // which must go before the filesystem itself can be unmounted.
      const outside = (await mountsOfDevice(device)).filter((m) => m.mountPoint !== dir && !m.mountPoint.startsWith(dir + sep));
      for (const m of outside.reverse()) await unmount(m.mountPoint).catch(() => undefined);
    }
    await cleanupDir(dir);
    done = true;
  };
  onCleanup(t, cleanup);
  try {
    await writeFile(imagePath, '');
    await truncate(imagePath, sizeBytes);
    await mkdir(mountPath);
    device = (await attachLoop(imagePath, { directIo: opts.directIo ?? true })).device;
    const reflink = opts.reflink ?? opts.fsType === 'xfs';
    const options = opts.fsType === 'xfs' ? ['-m', `reflink=${reflink ? 1 : 0}`] : [];
    await makeFilesystem(device, opts.fsType, { options });
    await mount({ source: device, target: mountPath, fsType: opts.fsType });
    return { fsType: opts.fsType, mountPath, device, imagePath, dir, sizeBytes, cleanup };
  } catch (err) {
    await cleanup().catch(() => undefined);
    throw err;
  }
}

/** Unmounts everything below `dir` (deepest first), detaches loops over files below it, removes it. */
export async function cleanupDir(dir: string): Promise<void> {
  const errors: unknown[] = [];
  // A loop device detached a moment ago, or a process just killed, can hold the filesystem for a
  // short while after (the kernel finishes a detach when the last opener lets go): retry a while.
  for (let round = 0; round < 12; round++) {
    if (round >= 3) await sleep(500);
    // Mounts first (images of nested loops may live on a mounted scratch fs), deepest first.
    const mounts = (await mountsUnder(dir)).sort((a, b) => b.mountPoint.length - a.mountPoint.length);
    for (const m of mounts) await unmount(m.mountPoint).catch((e) => errors.push(e));
    for (const l of await loopsUnder(dir)) await detachLoop(l.device).catch((e) => errors.push(e));
    if ((await mountsUnder(dir)).length === 0 && (await loopsUnder(dir)).length === 0) break;
  }
  const left = await mountsUnder(dir);
  if (left.length > 0) throw new AggregateError(errors, `cleanup of ${dir}: still mounted: ${left.map((m) => m.mountPoint).join(', ')}`);
  await rm(dir, { recursive: true, force: true });
  const loops = await loopsUnder(dir);
  if (loops.length > 0)
    throw new AggregateError(errors, `cleanup of ${dir}: loops still attached: ${loops.map((l) => l.device).join(', ')}`);
}

async function loopsUnder(dir: string): Promise<LoopDevice[]> {
  return (await listLoops()).filter((l) => l.backingFile === dir || l.backingFile.startsWith(dir + sep));
}

export interface Leaks {
  loops: LoopDevice[];
  mounts: MountInfoEntry[];
}

/**
 * Loop devices backed by files in quarry-test-* temp dirs, and mounts under them. By default only
 * dirs made by this process count (other test processes run in parallel); `{ all: true }` looks at
 * every quarry-test-* dir in os.tmpdir().
 */
export async function leakCheck(opts: { all?: boolean } = {}): Promise<Leaks> {
  const base = await realpath(tmpdir());
  const prefix = join(base, TEMP_PREFIX);
  const inScope = (p: string) => (opts.all ? p.startsWith(prefix) : [...ownDirs].some((d) => p === d || p.startsWith(d + sep)));
  const loops = (await listLoops()).filter((l) => inScope(l.backingFile));
  const mounts = (await readMountInfo()).filter((m) => inScope(m.mountPoint));
  return { loops, mounts };
}

/** An after() hook for a test file: no loop device or mount of this process's temp dirs is left. */
export async function assertNoLeaks(): Promise<void> {
  const leaks = await leakCheck();
  assert.deepEqual([...leaks.loops.map((l) => l.device), ...leaks.mounts.map((m) => m.mountPoint)], [], 'leaked loops or mounts');
}

/** Re-exported for tests that look up their own loops. */
export { findLoopsByBackingFile };
