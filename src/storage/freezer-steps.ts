/** The freezer's part of a freeze: its start, its mount check, each step with fsfreeze behind it, its end. */
import { Code, failedPrecondition, QuarryError } from '../domain/errors.js';
import { type FreezerSession, openFreezer } from '../host/freezer-session.js';
import { topMountAt } from '../host/mountinfo.js';

/**
 * Refuses (FAILED_PRECONDITION) a freeze of whatever is at `mountPath` when it is not the volume's
 * staging mount the plan found: unstaged since, the path shows the filesystem below it (the
 * kubelet's, often the host's root), which must never be frozen. The freezer's open file is
 * checked, and that open also keeps the mount in place until the thaw; without a freezer (or when
 * its file cannot be read) the mount table is checked, and the freeze falls back to fsfreeze.
 * Says whether the freezer may be used.
 */
export async function checkFreezeTarget(
  freezer: Promise<FreezerSession | undefined>,
  mountPath: string,
  mountId: number,
): Promise<boolean> {
  const f = await freezer;
  const opened = await f?.openedMountId().catch(() => undefined);
  const found = opened ?? (await topMountAt(mountPath))?.mountId;
  if (found !== mountId) {
    throw failedPrecondition(
      `the volume's staging mount (mount ${mountId}) is no longer at ${mountPath} ` +
        `(${found === undefined ? 'nothing mounted' : `found mount ${found}`}); nothing was frozen. It was unstaged meanwhile: retry`,
    );
  }
  // A freezer whose file could not be checked is not used: its thaw could meet another filesystem.
  return opened !== undefined;
}

/** What the freezer's process may outlive the freeze's deadline by: its thaw's own bound. */
const FREEZER_SPARE_MS = 60_000;

/**
 * A freezer for the filesystem at `mountPath`, living until the freeze's deadline plus its thaw's
 * bound; undefined if it cannot start. The mount it holds open is read as soon as it runs, so that
 * checkFreezeTarget finds the answer waiting: started in the reservation's hold, that read
 * overlaps the records' fsyncs instead of coming between them and the freeze (design: Freeze).
 */
export function startFreezer(mountPath: string, until: string): Promise<FreezerSession | undefined> {
  const lifetimeMs = Math.max(0, Date.parse(until) - Date.now()) + FREEZER_SPARE_MS;
  return openFreezer(mountPath, { lifetimeMs }).then(
    (f) => {
      f.openedMountId().catch(() => undefined); // kept by the freezer; a failure is met again by the check
      return f;
    },
    () => undefined,
  );
}

export function closeFreezer(freezer: Promise<FreezerSession | undefined> | undefined): Promise<void> {
  return (freezer ?? Promise.resolve(undefined)).then((f) => f?.close()).catch(() => undefined);
}

/** One freeze step through the freezer, or through `fallback` when it has none or it failed short of its bound. */
export async function viaFreezer(
  freezer: Promise<FreezerSession | undefined>,
  step: 'freeze' | 'thaw',
  fallback: () => Promise<void>,
): Promise<void> {
  const f = await freezer;
  const failed = f
    ? await f[step]().then(
        () => undefined,
        (err: unknown) => ({ err }),
      )
    : { err: undefined };
  if (!failed) return;
  // A command past its bound means the kernel is stuck, not the freezer: fsfreeze would wait as long.
  if (failed.err instanceof QuarryError && failed.err.code === Code.DEADLINE_EXCEEDED) throw failed.err;
  await fallback();
}
