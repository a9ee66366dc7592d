import { open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { failedPrecondition, invalidArgument } from '../domain/errors.js';
import { ensureDir, writeFileAtomic } from './durable-file.js';
import { flockPolled } from './pool-lock.js';

export const POOL_MARKER = 'quarry-pool.json';
export const POOL_FORMAT = 1;

export interface PoolMarker {
  format: number;
  createdBy: 'quarry';
  createdAt: string;
}

export const poolSubdirs = (root: string) => ({
  volumes: join(root, 'volumes'),
  snapshots: join(root, 'snapshots'),
  nodes: join(root, 'nodes'),
  lockFile: join(root, '.lock'),
  marker: join(root, POOL_MARKER),
});

/**
 * Opens a pool directory, or makes an empty directory into a pool. A path that
 * does not exist, is not a directory, or is a non-empty directory Quarry did
 * not create is refused before anything is written into it.
 */
export async function openPoolDir(root: string): Promise<PoolMarker> {
  let info;
  try {
    info = await stat(root);
  } catch {
    throw invalidArgument(`pool path ${root} does not exist: create an empty directory there first`);
  }
  if (!info.isDirectory()) throw invalidArgument(`pool path ${root} is not a directory`);
  // Controller and node processes may open the same empty directory at the same instant.
  return withDirectoryLock(root, () => openLocked(root));
}

async function openLocked(root: string): Promise<PoolMarker> {
  const dirs = poolSubdirs(root);
  const entries = await readdir(root);
  if (entries.length === 0 || (await isInterruptedInit(root, entries))) return initialise(root);
  if (!entries.includes(POOL_MARKER)) {
    throw invalidArgument(
      `pool path ${root} is a non-empty directory that Quarry did not create (no ${POOL_MARKER}); pass an empty directory`,
    );
  }
  const marker = parseMarker(await readFile(dirs.marker, 'utf8'), dirs.marker);
  await Promise.all([ensureDir(dirs.volumes), ensureDir(dirs.snapshots), ensureDir(dirs.nodes)]);
  return marker;
}

/** A crash during initialise leaves only our empty subdirectories, perhaps a temp marker, and no marker. */
async function isInterruptedInit(root: string, entries: string[]): Promise<boolean> {
  const subdirs = new Set(['volumes', 'snapshots', 'nodes']);
  const tempMarker = (e: string) => e.startsWith(`.${POOL_MARKER}.`) && e.endsWith('.tmp');
  if (!entries.every((e) => subdirs.has(e) || tempMarker(e))) return false;
  for (const e of entries.filter((x) => subdirs.has(x))) {
    if ((await readdir(join(root, e))).length > 0) return false;
  }
  for (const e of entries.filter(tempMarker)) await rm(join(root, e), { force: true });
  return true;
}

async function withDirectoryLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const handle = await open(dir, 'r');
  try {
    await flockPolled(handle, 30_000, `the pool directory ${dir}`);
    return await fn();
  } finally {
    await handle.close(); // closing the descriptor releases the flock
  }
}

async function initialise(root: string): Promise<PoolMarker> {
  const dirs = poolSubdirs(root);
  await Promise.all([ensureDir(dirs.volumes), ensureDir(dirs.snapshots), ensureDir(dirs.nodes)]);
  const marker: PoolMarker = { format: POOL_FORMAT, createdBy: 'quarry', createdAt: new Date().toISOString() };
  // The marker goes last: a crash before it leaves only empty subdirectories, which a restart completes.
  await writeFileAtomic(dirs.marker, `${JSON.stringify(marker, null, 2)}\n`);
  return marker;
}

function parseMarker(text: string, path: string): PoolMarker {
  let m: Partial<PoolMarker>;
  try {
    m = JSON.parse(text);
  } catch {
    throw failedPrecondition(`pool marker ${path} is corrupt; restore it (format ${POOL_FORMAT})`);
  }
  if (m.createdBy !== 'quarry' || typeof m.format !== 'number') {
    throw failedPrecondition(`pool marker ${path} is not a Quarry marker`);
  }
  if (m.format > POOL_FORMAT) {
    throw failedPrecondition(`pool ${path} has format ${m.format}, newer than this Quarry (${POOL_FORMAT}); upgrade Quarry`);
  }
  return m as PoolMarker;
}
