/**
 * Wraps xfs_io(8) in expert mode as a freezer: one process per frozen copy, started before the
 * freeze and told `freeze` and then `thaw` on its stdin. The thaw then waits for no fork: here
 * `fsfreeze -u` forked from a Quarry process takes 3–4 ms before its ioctl, the command on a pipe
 * well under 1 ms, and that is time the volume's writers stay blocked (design: Freeze).
 * FIFREEZE and FITHAW are generic, so xfs_io (opened read-only, as fsfreeze opens) serves ext4
 * and btrfs as well as xfs.
 *
 * xfs_io's stdout is block-buffered on a pipe and says nothing on success, so each command is
 * followed by an unknown command whose complaint, on unbuffered stderr, marks that the one before
 * it has ended; anything printed before that mark is the command's error.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { Code, QuarryError } from '../domain/errors.js';
import { checkAbsolutePath } from './errors.js';
import { type HostSession, startSession } from './exec.js';

const MARK = 'quarry-command-done';
const MARK_LINE = `command "${MARK}" not found\n`;

export interface FreezerSession {
  /** FIFREEZE. Already frozen (EBUSY) counts as done, as with fsfreeze. */
  freeze(): Promise<void>;
  /** FITHAW. Not frozen (EINVAL) counts as done, as with fsfreeze. */
  thaw(): Promise<void>;
  /**
   * The mount (its ID, as /proc/self/mountinfo shows it) through which the process holds the
   * filesystem open: what a freeze would freeze. That open also keeps it from being unmounted, and
   * never moves to another mount, so it is read once and the answer kept.
   */
  openedMountId(): Promise<number>;
  /** Ends the process; safe to call more than once. */
  close(): Promise<void>;
}

export interface FreezerOptions {
  /** Bound of each command, like fsfreeze's timeout. */
  commandTimeoutMs?: number;
  /** Bound of the whole process. */
  lifetimeMs: number;
}

/**
 * Starts xfs_io on the filesystem mounted at `mountPath`: the kept spare, told to open it, when
 * there is one and the path can be written as a command; a new process otherwise.
 */
export async function openFreezer(mountPath: string, opts: FreezerOptions): Promise<FreezerSession> {
  checkAbsolutePath(mountPath, 'mount path');
  const timeoutMs = opts.commandTimeoutMs ?? 60_000;
  const spare = COMMAND_SAFE_PATH.test(mountPath) ? await takeSpare() : undefined;
  let freezer: XfsIoFreezer;
  if (spare) {
    spare.bound(opts.lifetimeMs);
    freezer = XfsIoFreezer.onSpare(spare, mountPath, timeoutMs);
  } else {
    freezer = XfsIoFreezer.onNewProcess(await startSession('xfs_io', ['-r', '-x', mountPath], opts.lifetimeMs), mountPath, timeoutMs);
  }
  void freezer.ended.then(keepSpareSoon);
  return freezer;
}

/**
 * A path xfs_io reads back whole from its command line: no blanks, quotes or escapes. Staging
 * paths (the kubelet's) always are; any other takes a new process with the path as an argument.
 */
const COMMAND_SAFE_PATH = /^\/[\w./@:+=,~-]*$/;

/**
 * The spare: an xfs_io with no file, started after a freezer ends, so the next freeze writes to a
 * pipe instead of waiting on a fork (`spawn` holds the event loop 1–5 ms, design: Freeze). It
 * holds nothing open, and it does not keep this process running; when this process ends, its
 * stdin closes and it exits, however this process ended. A process that never freezes starts none.
 */
let spare: Promise<KeptSpare> | undefined;
let refill: NodeJS.Timeout | undefined;

/** A spare and whether it has exited: its own flag, as an earlier spare may exit after a later one starts. */
interface KeptSpare {
  session: HostSession;
  exited: boolean;
}

/** Time after a freezer ends before the spare starts, so its fork lands after the request's answer. */
const SPARE_DELAY_MS = 20;

function keepSpareSoon(): void {
  if (spare || refill) return;
  refill = setTimeout(() => {
    refill = undefined;
    if (spare) return;
    const started = startSession('xfs_io', ['-r', '-x']).then((session) => {
      const kept: KeptSpare = { session, exited: false };
      void session.exited.then(() => {
        kept.exited = true;
      });
      return kept;
    });
    spare = started;
    started.catch(() => {
      if (spare === started) spare = undefined;
    });
  }, SPARE_DELAY_MS);
  refill.unref();
}

async function takeSpare(): Promise<HostSession | undefined> {
  const taken = spare;
  spare = undefined;
  const kept = await taken?.catch(() => undefined);
  return kept && kept.session.pid !== undefined && !kept.exited ? kept.session : undefined;
}

/** Bound of the spare's `open`: an open of a directory waits on nothing a freeze does. */
const OPEN_TIMEOUT_MS = 10_000;

class XfsIoFreezer implements FreezerSession {
  private stderr = '';
  private pending?: { resolve: (output: string) => void; reject: (err: Error) => void };
  private queue: Promise<unknown> = Promise.resolve();
  private exited = false;
  private mountIdRead?: Promise<number>;

  /** Settles when the process has exited. */
  readonly ended: Promise<void>;
  /** The spare's `open` of the mount; rejects with xfs_io's reason. Resolved for a process started on it. */
  private opened: Promise<void> = Promise.resolve();

  /** A process started with the mount as its file: it has it open before its first command. */
  static onNewProcess(session: HostSession, mountPath: string, timeoutMs: number): XfsIoFreezer {
    return new XfsIoFreezer(session, mountPath, timeoutMs);
  }

  /** A kept spare: its first command opens the mount. */
  static onSpare(session: HostSession, mountPath: string, timeoutMs: number): XfsIoFreezer {
    const freezer = new XfsIoFreezer(session, mountPath, timeoutMs);
    freezer.opened = freezer.openMount();
    freezer.opened.catch(() => undefined); // met by every command after it
    return freezer;
  }

  private constructor(
    private readonly session: HostSession,
    private readonly mountPath: string,
    private readonly timeoutMs: number,
  ) {
    session.onStderr((text) => this.take(text));
    this.ended = session.exited.then(() => {
      this.exited = true;
      this.pending?.reject(new QuarryError(Code.UNAVAILABLE, `xfs_io on ${mountPath} exited: ${this.stderr.trim().slice(0, 300)}`));
      this.pending = undefined;
    });
  }

  /** The spare's first command; a failure ends the process, as a failed open ends a new one. */
  private openMount(): Promise<void> {
    return this.run(async () => {
      const output = await this.send(`open -r ${this.mountPath}`, OPEN_TIMEOUT_MS);
      if (output.trim()) {
        void this.session.close();
        throw new QuarryError(Code.INTERNAL, `xfs_io could not open ${this.mountPath}: ${output.trim().slice(0, 300)}`);
      }
    });
  }

  freeze(): Promise<void> {
    return this.command('freeze', /device or resource busy/i);
  }

  thaw(): Promise<void> {
    return this.command('thaw', /invalid argument/i);
  }

  close(): Promise<void> {
    return this.session.close();
  }

  /** Read once: an open file stays on the mount it was opened through. */
  openedMountId(): Promise<number> {
    this.mountIdRead ??= this.readOpenedMountId();
    return this.mountIdRead;
  }

  private async readOpenedMountId(): Promise<number> {
    // xfs_io opens its file before it reads a command: once a command is answered, the fd is there.
    await this.run(async () => {
      await this.opened;
      await this.send('');
    });
    // fdinfo's mnt_id, not st_dev: on btrfs a file's st_dev is its subvolume's, not the mount's.
    const mounts = new Set<number>();
    const proc = `/proc/${this.session.pid}`;
    for (const fd of await readdir(`${proc}/fd`)) {
      if (Number(fd) <= 2 || !(await stat(`${proc}/fd/${fd}`).catch(() => undefined))?.isDirectory()) continue;
      const id = /^mnt_id:\s*(\d+)$/m.exec(await readFile(`${proc}/fdinfo/${fd}`, 'utf8'))?.[1];
      if (id !== undefined) mounts.add(Number(id));
    }
    if (mounts.size !== 1) {
      throw new QuarryError(Code.INTERNAL, `xfs_io on ${this.mountPath} holds ${mounts.size} mounts open, expected one`);
    }
    return [...mounts][0]!;
  }

  private take(text: string): void {
    this.stderr += text;
    const at = this.stderr.indexOf(MARK_LINE);
    if (at < 0 || !this.pending) return;
    const output = this.stderr.slice(0, at);
    this.stderr = this.stderr.slice(at + MARK_LINE.length);
    this.pending.resolve(output);
    this.pending = undefined;
  }

  /** Its answer is whatever stderr says before the mark. */
  private command(name: 'freeze' | 'thaw', done: RegExp): Promise<void> {
    return this.run(async () => {
      await this.opened;
      const output = await this.send(name);
      if (output.trim() && !done.test(output)) {
        throw new QuarryError(Code.INTERNAL, `xfs_io ${name} of ${this.mountPath}: ${output.trim().slice(0, 500)}`);
      }
    });
  }

  /** One command at a time. */
  private run<T>(step: () => Promise<T>): Promise<T> {
    const ran = this.queue.then(step);
    this.queue = ran.catch(() => undefined);
    return ran;
  }

  /** Sends `name` (or, when empty, only the mark) and resolves with what stderr said before the mark. */
  private send(name: string, timeoutMs = this.timeoutMs): Promise<string> {
    if (this.exited) return Promise.reject(new QuarryError(Code.UNAVAILABLE, `xfs_io on ${this.mountPath} has exited`));
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        // Stuck in the kernel or not: this process takes no more commands.
        this.exited = true;
        this.pending = undefined;
        reject(
          new QuarryError(Code.DEADLINE_EXCEEDED, `xfs_io ${name || 'start'} of ${this.mountPath} did not finish within ${timeoutMs} ms`),
        );
        void this.session.stop();
      }, timeoutMs);
      this.pending = {
        resolve: (out) => {
          clearTimeout(timer);
          resolve(out);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.session.write(name ? `${name}\n${MARK}\n` : `${MARK}\n`);
    });
  }
}
