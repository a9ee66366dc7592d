import { open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { failedPrecondition, invalidArgument } from '../domain/errors.js';
import { ensureDir, writeFileAtomic } from './durable-file.js';
import { flockHandle } from './pool-lock.js';

export const POOL_MARKER = 'quarry-pool.json';
export const POOL_FORMAT = 1;

export interface PoolMarker {
  format: number;
  createdBy: 'quarry';
  createdAt: string;
}

/**
 * `dir/name`, for one of a pool's directories (normalized by poolSubdirs) and a name made from a
 * checked ID: what path.join gives, without its normalizing pass over the whole path, which was
 * ~10 KB of garbage per CreateVolume (a dozen joins; design: Performance targets). A name with a
 * slash is never one of ours: refused, not joined.
 */
export function fileIn(dir: string, name: string): string {
  if (name.includes('/')) throw new Error(`internal: file name ${JSON.stringify(name)} has a slash`);
  return `${dir}/${name}`;
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
  const kind = await classifyPoolDir(root);
  if (kind === 'empty' || kind === 'interrupted') return initialise(root);
  if (kind === 'foreign') {
    throw invalidArgument(
      `pool path ${root} is a non-empty directory that Quarry did not create (no ${POOL_MARKER}); pass an empty directory`,
    );
  }
  const marker = parseMarker(await readFile(dirs.marker, 'utf8'), dirs.marker);
  await Promise.all([ensureDir(dirs.volumes), ensureDir(dirs.snapshots), ensureDir(dirs.nodes)]);
  return marker;
}

/**
 * What a directory is to Quarry: a pool (it has the marker), empty, the
 * leftovers of an initialise a crash interrupted (only our empty
 * subdirectories and perhaps a temp marker), or someone else's.
 */
export type PoolDirKind = 'pool' | 'empty' | 'interrupted' | 'foreign';

const SUBDIRS: readonly string[] = ['volumes', 'snapshots', 'nodes'];
const isTempMarker = (e: string) => e.startsWith(`.${POOL_MARKER}.`) && e.endsWith('.tmp');

/** Pure: the kind, from the directory's entries and which of our subdirectories are empty. */
export function classifyPoolEntries(entries: readonly string[], emptySubdirs: ReadonlySet<string>): PoolDirKind {
  if (entries.length === 0) return 'empty';
  if (entries.includes(POOL_MARKER)) return 'pool';
  if (entries.every((e) => (SUBDIRS.includes(e) && emptySubdirs.has(e)) || isTempMarker(e))) return 'interrupted';
  return 'foreign';
}

/** Reads the directory and classifies it; writes nothing. */
export async function classifyPoolDir(root: string): Promise<PoolDirKind> {
  const entries = await readdir(root);
  const emptySubdirs = new Set<string>();
  for (const e of entries.filter((x) => SUBDIRS.includes(x))) {
    const inner = await readdir(join(root, e)).catch(() => undefined);
    if (inner?.length === 0) emptySubdirs.add(e);
  }
  return classifyPoolEntries(entries, emptySubdirs);
}

async function withDirectoryLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const handle = await open(dir, 'r');
  try {
    await flockHandle(handle, 30_000, `the pool directory ${dir}`);
    return await fn();
  } finally {
    await handle.close(); // closing the descriptor releases the flock
  }
}

async function initialise(root: string): Promise<PoolMarker> {
  const dirs = poolSubdirs(root);
  for (const e of (await readdir(root)).filter(isTempMarker)) await rm(join(root, e), { force: true });
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
