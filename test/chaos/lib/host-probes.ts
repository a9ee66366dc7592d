// Chaos helper: data and filesystem probes that run in child processes, so a frozen filesystem
// blocks a child (bounded by a timeout) and never this test process's own thread pool.
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { thaw } from '../../../src/host/fsfreeze.js';

const PROBE_TIMEOUT_MS = 20_000;

/** Writes `data` to `path` (created or overwritten) and fsyncs it, via dd in a child process. */
export async function writeFsynced(path: string, data: Buffer, timeoutMs = 60_000): Promise<void> {
  await execa('dd', [`of=${path}`, 'bs=64K', 'conv=fsync', 'status=none'], { input: data, timeout: timeoutMs, env: { LC_ALL: 'C' } });
}

/** The sha256 of a file, read by sha256sum in a child process. */
export async function sha256Of(path: string, timeoutMs = 60_000): Promise<string> {
  const r = await execa('sha256sum', ['--', path], { timeout: timeoutMs, env: { LC_ALL: 'C' } });
  return String(r.stdout).split(/\s+/)[0]!;
}

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * Whether the filesystem mounted at `mountPath` is frozen. A child writes and fsyncs a probe
 * file; only if that does not finish within the bound is the filesystem asked to freeze: a
 * frozen one answers EBUSY at once (FIFREEZE never blocks), an unfrozen slow one is thawed
 * again and not counted. So a slow disk is never mistaken for a frozen one.
 */
export async function isFrozen(mountPath: string): Promise<boolean> {
  const probe = execa('dd', ['if=/dev/zero', `of=${mountPath}/.chaos-freeze-probe`, 'bs=4K', 'count=1', 'conv=fsync', 'status=none'], {
    timeout: PROBE_TIMEOUT_MS,
    reject: false,
    env: { LC_ALL: 'C' },
  });
  const r = await probe;
  if (!r.timedOut) return false;
  const f = await execa('fsfreeze', ['--freeze', mountPath], { reject: false, timeout: PROBE_TIMEOUT_MS, env: { LC_ALL: 'C' } });
  if (f.exitCode === 0) {
    await thaw(mountPath);
    return false;
  }
  return /device or resource busy/i.test(String(f.stderr));
}

/** Thaws a filesystem (not frozen counts as done): the operator's `fsfreeze -u`, so the suite can go on. */
export async function thawQuietly(mountPath: string): Promise<void> {
  await thaw(mountPath).catch(() => undefined);
}
