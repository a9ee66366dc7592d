import fs, { closeSync, openSync, renameSync, writeFileSync } from 'node:fs';
import { rm, mkdir } from 'node:fs/promises';
import { promisify } from 'node:util';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';

// Plain descriptors, not FileHandle objects: every record write and directory fsync opens one,
// and a FileHandle costs the controller measurably more CPU per create (design: Performance targets).
const fsyncFd = promisify(fs.fsync);
const unlinkPath = promisify(fs.unlink);

/**
 * Removes one file; a missing one is no error. One unlink request, where rm({ force: true }) costs
 * two lstats, an unlink and an error object per missing file (design: Performance targets).
 */
export async function removeFile(path: string): Promise<void> {
  try {
    await unlinkPath(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** fsync a directory so that a rename or unlink inside it survives a crash. Only the fsync goes to a worker (see writeTemp). */
export async function syncDir(dir: string): Promise<void> {
  const fd = openSync(dir, 'r');
  try {
    await fsyncFd(fd);
  } finally {
    closeSync(fd);
  }
}

/** Per directory: the fsync running now, and the one that will start after it for callers that came meanwhile. */
const sharedSyncs = new Map<string, { running: Promise<void>; next?: Promise<void> }>();

/**
 * syncDir shared by concurrent callers (group commit): a caller joins the next fsync that starts
 * after its call, never one already running, which may have started before its rename or unlink.
 * So every caller still waits for a directory fsync begun after its change, as with syncDir; a
 * burst of N changes costs about two fsyncs instead of N (design: Records, "Fewer fsyncs").
 */
export function syncDirShared(dir: string): Promise<void> {
  const state = sharedSyncs.get(dir);
  if (!state) return startSharedSync(dir);
  state.next ??= state.running.then(
    () => startSharedSync(dir),
    () => startSharedSync(dir),
  );
  return state.next;
}

function startSharedSync(dir: string): Promise<void> {
  const running = syncDir(dir);
  const state = { running };
  sharedSyncs.set(dir, state);
  const done = () => {
    if (sharedSyncs.get(dir) === state) sharedSyncs.delete(dir);
  };
  running.then(done, done);
  return running;
}

const TEMP_TAG_BYTES = 6;

/** `.<name>.<12 hex>.tmp`: the only temporary files writeFileAtomic makes, next to their target. */
export const TEMP_FILE_RE = new RegExp(`^\\.(.+)\\.[0-9a-f]{${TEMP_TAG_BYTES * 2}}\\.tmp$`);

/** The name of the file that `name` is a temporary copy of, if it is one of ours. */
export function tempFileTarget(name: string): string | undefined {
  return TEMP_FILE_RE.exec(name)?.[1];
}

export interface AtomicWriteOptions {
  /**
   * False leaves the rename to be made durable by a later fsync of the same directory, which the
   * caller must do before it reports success (design: Records, "Fewer fsyncs"), or, for a change
   * that need not outlive the host (a freeze marker), by nothing (design: Freeze). The content is
   * fsynced before the rename either way: a name made durable by any later directory fsync (or by
   * the journal) then never points at a file whose data was lost with the host.
   */
  syncDir?: boolean;
}

/** Write-temp, fsync, rename, fsync-dir: readers see the old or the new content, never a mix. */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  opts: AtomicWriteOptions = {},
  renamed?: () => void,
): Promise<void> {
  await commitTemp(await writeTemp(path, data), path, opts, renamed);
}

/** The first half of writeFileAtomic: the content in a fsynced temporary file next to `path`. Returns its path. */
export async function writeTemp(path: string, data: string | Uint8Array): Promise<string> {
  // Sliced at the last slash rather than dirname/basename/join: one string, not four (a record's path has no trailing slash).
  const slash = path.lastIndexOf('/') + 1;
  const tmp = `${path.slice(0, slash)}.${path.slice(slash)}.${randomBytes(TEMP_TAG_BYTES).toString('hex')}.tmp`;
  // Only the fsync, which waits for the disk, goes to a libuv worker. Creating the file and writing a few
  // hundred bytes into the page cache take microseconds in place, where each worker request costs a
  // wake-up of an idle worker and one of this thread (design: Performance targets, "Worker trips").
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeFileSync(fd, data);
    await fsyncFd(fd);
  } catch (err) {
    closeSync(fd);
    await rm(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  return tmp;
}

/**
 * The second half: renames the temporary file over `path` (and fsyncs the directory unless told
 * not to). The rename is synchronous: it runs under the pool lock, where waiting in the libuv queue
 * behind other requests' fsyncs would hold up every change of the pool.
 */
/** Renames `tmp` over `path`; `renamed` runs right after the rename, before anything waits. */
export async function commitTemp(tmp: string, path: string, opts: AtomicWriteOptions = {}, renamed?: () => void): Promise<void> {
  try {
    renameSync(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  renamed?.();
  if (opts.syncDir !== false) await syncDir(dirname(path));
}

/** Remove one file (never a directory) and make the removal durable (unless the caller fsyncs the directory itself). */
export async function removeFileDurable(path: string, opts: AtomicWriteOptions = {}): Promise<void> {
  await removeFile(path);
  if (opts.syncDir !== false) await syncDir(dirname(path));
}

export async function ensureDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o700 });
}
