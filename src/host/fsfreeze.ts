// Wraps fsfreeze(8): suspend and resume writes to a mounted filesystem.
import { HostCommandError, run } from './exec.js';
import { checkAbsolutePath, mapToolError } from './errors.js';

/** Freezes the filesystem mounted at `mountPath` (`fsfreeze -f`). Already frozen (EBUSY) counts as done. */
export async function freeze(mountPath: string, timeoutMs = 60_000): Promise<void> {
  checkAbsolutePath(mountPath, 'mount path');
  try {
    await run('fsfreeze', ['--freeze', mountPath], { timeoutMs });
  } catch (err) {
    if (err instanceof HostCommandError && /device or resource busy/i.test(err.output)) return;
    throw mapToolError(err, `freezing ${mountPath}`);
  }
}

/** Thaws the filesystem at `mountPath` (`fsfreeze -u`). Not frozen (EINVAL) counts as done. */
export async function thaw(mountPath: string, timeoutMs = 60_000): Promise<void> {
  checkAbsolutePath(mountPath, 'mount path');
  try {
    await run('fsfreeze', ['--unfreeze', mountPath], { timeoutMs });
  } catch (err) {
    if (err instanceof HostCommandError && /invalid argument/i.test(err.output)) return;
    throw mapToolError(err, `thawing ${mountPath}`);
  }
}

/**
 * Writes back the dirty data of the filesystem mounted at `mountPath` (`sync --file-system`,
 * syncfs(2)) without freezing it: writers go on meanwhile. Run just before a freeze, it leaves
 * the freeze only what was written since, so writers stay blocked for less time.
 */
export async function flushFilesystem(mountPath: string, timeoutMs = 30_000): Promise<void> {
  checkAbsolutePath(mountPath, 'mount path');
  try {
    await run('sync', ['--file-system', mountPath], { timeoutMs });
  } catch (err) {
    throw mapToolError(err, `flushing ${mountPath}`);
  }
}
