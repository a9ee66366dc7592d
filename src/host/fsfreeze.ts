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
