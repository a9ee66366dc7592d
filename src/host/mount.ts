// Wraps mount(8) and umount(8); every result is checked against /proc/self/mountinfo.
import { setTimeout as sleep } from 'node:timers/promises';
import { Code, QuarryError } from '../domain/errors.js';
import { HostCommandError, run } from './exec.js';
import { checkAbsolutePath, firstLine, mapToolError } from './errors.js';
import { canonicalPath, mountsAt, topMountAt, type MountInfoEntry } from './mountinfo.js';

export interface MountRequest {
  source: string;
  target: string;
  fsType?: string;
  options?: string[];
  timeoutMs?: number;
}

const MOUNT_TIMEOUT_MS = 60_000;
const OPTION_RE = /^[A-Za-z0-9_.=:/+@-]+$/;
/**
 * SELinux context options, as kubelet passes them: the label quoted because its MCS categories
 * hold commas (context="system_u:object_r:container_file_t:s0:c1,c2"). Exactly one quoted value
 * of label characters, nothing before or after it: a comma outside the quotes cannot smuggle in
 * another option. mount(8) keeps a quoted value whole.
 */
const SELINUX_OPTION_RE = /^(context|fscontext|defcontext|rootcontext)="[A-Za-z0-9_.:,-]+"$/;

/** Refuses any mount option that could be read as more than one option (INVALID_ARGUMENT). */
export function checkOptions(options: readonly string[]): void {
  for (const o of options) {
    if (!OPTION_RE.test(o) && !SELINUX_OPTION_RE.test(o)) {
      throw new QuarryError(
        Code.INVALID_ARGUMENT,
        `invalid mount option ${JSON.stringify(o)}: options are single words or key=value; ` +
          `SELinux contexts as context="user:role:type:level"`,
      );
    }
  }
}

/** mount(8) refused an option: its classic message (also used for bad superblocks) or the new mount API's. */
export function isBadOptionFailure(err: unknown): boolean {
  const output = err instanceof QuarryError && err.cause instanceof HostCommandError ? err.cause.output : '';
  return /bad option|unknown parameter|unrecognized mount option|invalid argument/i.test(output);
}

/** The option the new mount API names in its message ("ext4: Unknown parameter 'bogus'"), if any. */
export function optionNamedIn(err: unknown): string | undefined {
  const output = err instanceof QuarryError && err.cause instanceof HostCommandError ? err.cause.output : '';
  return /unknown parameter '([^']+)'/i.exec(output)?.[1] ?? /unrecognized mount option "([^"]+)"/i.exec(output)?.[1];
}

/** `mount [-t TYPE] [-o OPTS] SOURCE TARGET`; returns the new mount as mountinfo shows it. */
export async function mount(req: MountRequest): Promise<MountInfoEntry> {
  checkAbsolutePath(req.target, 'mount target');
  const options = req.options ?? [];
  checkOptions(options);
  if (req.fsType !== undefined && !/^[a-z0-9.]+$/.test(req.fsType)) {
    throw new QuarryError(Code.INVALID_ARGUMENT, `invalid filesystem type ${JSON.stringify(req.fsType)}`);
  }
  if (!req.source || req.source.startsWith('-')) {
    throw new QuarryError(Code.INVALID_ARGUMENT, `invalid mount source ${JSON.stringify(req.source)}`);
  }
  const args = [
    ...(req.fsType ? ['-t', req.fsType] : []),
    ...(options.length ? ['-o', options.join(',')] : []),
    '--',
    req.source,
    req.target,
  ];
  await runMount('mount', args, `mounting ${req.source} at ${req.target}`, req.timeoutMs);
  const top = await topMountAt(req.target);
  if (!top) throw new QuarryError(Code.INTERNAL, `mount of ${req.source} at ${req.target} exited 0 but mountinfo shows nothing there`);
  return top;
}

export interface BindOptions {
  readOnly?: boolean;
  /** Extra per-mount flags applied with the remount (nosuid, nodev, noexec, ...). */
  options?: string[];
  timeoutMs?: number;
}

/**
 * Bind-mounts `source` at `target`. A read-only bind needs two steps (`mount --bind`, then
 * `mount -o remount,bind,ro`); the result is verified in mountinfo, and a bind that could not be
 * made read-only is undone rather than left writable.
 */
export async function bindMount(source: string, target: string, opts: BindOptions = {}): Promise<MountInfoEntry> {
  checkAbsolutePath(source, 'bind source');
  checkAbsolutePath(target, 'bind target');
  const extra = opts.options ?? [];
  checkOptions(extra);
  await runMount('mount', ['--bind', '--', source, target], `bind-mounting ${source} at ${target}`, opts.timeoutMs);
  const before = await topMountAt(target);
  if (!before) throw new QuarryError(Code.INTERNAL, `bind mount of ${source} at ${target} exited 0 but mountinfo shows nothing there`);
  if (!opts.readOnly && extra.length === 0) return before;
  const flags = ['remount', 'bind', ...(opts.readOnly ? ['ro'] : []), ...extra];
  try {
    await runMount('mount', ['-o', flags.join(','), '--', target], `remounting ${target} with ${flags.join(',')}`, opts.timeoutMs);
    const after = await topMountAt(target);
    if (!after || after.mountId !== before.mountId) {
      throw new QuarryError(Code.INTERNAL, `the bind mount at ${target} changed while it was being remounted`);
    }
    if (opts.readOnly && !after.options.includes('ro')) {
      throw new QuarryError(
        Code.INTERNAL,
        `bind mount at ${target} is still writable after remount,ro (options ${after.options.join(',')})`,
      );
    }
    return after;
  } catch (err) {
    await runMount('umount', ['--', target], `undoing the bind mount at ${target}`).catch(() => undefined);
    throw err;
  }
}

export interface UnmountOptions {
  /** How many stacked mounts to take off before giving up (default 16). */
  maxMounts?: number;
  timeoutMs?: number;
}

/**
 * Unmounts everything at `target`, then proves it from mountinfo. Nothing mounted is success;
 * a zero exit of umount is not taken as proof. Stacked mounts are removed one by one, bounded.
 */
export async function unmount(target: string, opts: UnmountOptions = {}): Promise<void> {
  checkAbsolutePath(target, 'unmount target');
  const limit = opts.maxMounts ?? 16;
  const path = await canonicalPath(target);
  for (let i = 0; i <= limit; i++) {
    const at = await mountsAt(path);
    if (at.length === 0) return;
    if (i === limit) break;
    try {
      await run('umount', ['--', path], { timeoutMs: opts.timeoutMs ?? MOUNT_TIMEOUT_MS });
    } catch (err) {
      if (err instanceof HostCommandError) {
        if (/not mounted|no mount point specified|not found/i.test(err.output)) {
          await sleep(20); // raced with another unmount: mountinfo decides
          continue;
        }
        if (/target is busy|device is busy|EBUSY/i.test(err.output)) {
          throw new QuarryError(
            Code.UNAVAILABLE,
            `${target} is busy (a process still uses it); retry when it is released: ${firstLine(err.output)}`,
            { cause: err },
          );
        }
      }
      throw mapToolError(err, `unmounting ${target}`);
    }
  }
  const left = await mountsAt(path);
  throw new QuarryError(
    Code.INTERNAL,
    `${target} is still mounted after ${limit} unmounts (${left.map((m) => `${m.source} ${m.fsType}`).join('; ')})`,
  );
}

/**
 * Takes off exactly one mount: `expected`, which must be the top mount at `target` (the one
 * umount(8) acts on). Verified before and after from mountinfo, so a mount that is not the
 * caller's is never touched. Already gone is success.
 */
export async function unmountTop(target: string, expected: MountInfoEntry, opts: { timeoutMs?: number } = {}): Promise<void> {
  checkAbsolutePath(target, 'unmount target');
  const path = await canonicalPath(target);
  const top = await topMountAt(path);
  if (!top || top.mountId !== expected.mountId) {
    if (!(await mountsAt(path)).some((m) => m.mountId === expected.mountId)) return;
    throw new QuarryError(
      Code.FAILED_PRECONDITION,
      `${target} has ${top?.source} (${top?.fsType}) mounted over the mount to be removed; not touching it`,
    );
  }
  try {
    await run('umount', ['--', path], { timeoutMs: opts.timeoutMs ?? MOUNT_TIMEOUT_MS });
  } catch (err) {
    if (err instanceof HostCommandError) {
      if (/not mounted|no mount point specified|not found/i.test(err.output)) {
        if (!(await mountsAt(path)).some((m) => m.mountId === expected.mountId)) return;
      }
      if (/target is busy|device is busy|EBUSY/i.test(err.output)) {
        throw new QuarryError(
          Code.UNAVAILABLE,
          `${target} is busy (a process or a mount below it still uses it); retry when it is released: ${firstLine(err.output)}`,
          { cause: err },
        );
      }
    }
    throw mapToolError(err, `unmounting ${target}`);
  }
  if ((await mountsAt(path)).some((m) => m.mountId === expected.mountId)) {
    throw new QuarryError(Code.INTERNAL, `umount of ${target} exited 0 but mountinfo still shows mount ${expected.mountId} there`);
  }
}

async function runMount(tool: 'mount' | 'umount', args: string[], what: string, timeoutMs = MOUNT_TIMEOUT_MS): Promise<void> {
  try {
    await run(tool, args, { timeoutMs });
  } catch (err) {
    if (err instanceof HostCommandError) {
      if (/unknown filesystem type/i.test(err.output)) {
        throw new QuarryError(
          Code.FAILED_PRECONDITION,
          `${what}: the kernel does not support this filesystem type; load its module (${firstLine(err.output)})`,
          { cause: err },
        );
      }
      if (/mount point does not exist|No such file or directory/i.test(err.output)) {
        throw new QuarryError(Code.NOT_FOUND, `${what}: ${firstLine(err.output)}`, { cause: err });
      }
    }
    throw mapToolError(err, what);
  }
}
