// Shared by the host modules: turns a failed host tool's output into a QuarryError with the right code.
import { Code, QuarryError } from '../domain/errors.js';
import { HostCommandError } from './exec.js';

const NO_SPACE = /no space left on device|ENOSPC|disk quota exceeded|EDQUOT/i;

/**
 * Maps a host tool failure to a QuarryError. Disk full becomes RESOURCE_EXHAUSTED;
 * everything else keeps its code with `what` prefixed so the message says what failed.
 */
export function mapToolError(err: unknown, what: string): QuarryError {
  if (err instanceof HostCommandError) {
    if (NO_SPACE.test(err.output)) {
      return new QuarryError(
        Code.RESOURCE_EXHAUSTED,
        `${what}: no space left on the pool's filesystem; free space or grow the pool (${firstLine(err.output)})`,
        { cause: err },
      );
    }
    return new QuarryError(Code.INTERNAL, `${what}: ${err.message}`, { cause: err });
  }
  if (err instanceof QuarryError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new QuarryError(Code.INTERNAL, `${what}: ${message}`, { cause: err });
}

export function firstLine(s: string): string {
  return s.trim().split('\n')[0]?.slice(0, 300) ?? '';
}

const DEVICE_RE = /^\/dev\/[A-Za-z0-9._\-/]+$/;

/** Refuses anything that is not an absolute /dev path, so a device argument can never be taken for an option. */
export function checkDevicePath(device: string): string {
  if (!DEVICE_RE.test(device) || device.includes('..')) {
    throw new QuarryError(Code.INVALID_ARGUMENT, `not a device path: ${JSON.stringify(device)}`);
  }
  return device;
}

/** Refuses relative paths: every path handed to a host tool is absolute, so it can never be taken for an option. */
export function checkAbsolutePath(p: string, what = 'path'): string {
  if (typeof p !== 'string' || !p.startsWith('/') || p.includes('\0')) {
    throw new QuarryError(Code.INVALID_ARGUMENT, `${what} must be an absolute path: ${JSON.stringify(p)}`);
  }
  return p;
}
