import type { ExecaError, Options } from 'execa';
import { Code, QuarryError } from '../domain/errors.js';

/** Default bound for one host command; callers pass a longer one for slow tools (mkfs on big devices, cp). */
export const DEFAULT_TIMEOUT_MS = 30_000;

export interface RunOptions {
  timeoutMs?: number;
  /** Exit codes that are answers, not failures (blkid exits 2 for "nothing found"). */
  okExitCodes?: number[];
  input?: string;
  /**
   * A descriptor of this process the tool receives as its fd 3: it then acts on our open file
   * description (flock(1) locks it for us).
   */
  shareFd?: number;
}

/** How one host-tool run ended: `failed` is an exit code that is not an answer. */
export type HostToolOutcome = 'ok' | 'failed' | 'timeout' | 'missing' | 'error';

/**
 * Told of every host-tool run. The host layer knows no metrics: whoever counts (the metrics
 * registry) installs an observer; none by default. An observer must not throw.
 */
export type HostToolObserver = (tool: string, outcome: HostToolOutcome, seconds: number) => void;

let observer: HostToolObserver | undefined;

// execa loads on the first host-tool run: a process without a pool (the local-mode resizer
// endpoint), or a test of the wire alone, never loads it (design: Process footprint).
let execaModule: Promise<typeof import('execa')> | undefined;
const loadExeca = () => (execaModule ??= import('execa'));

/** Installs the observer (undefined removes it). */
export function setHostToolObserver(next: HostToolObserver | undefined): void {
  observer = next;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/**
 * Runs one host tool with an argument array (never a shell string) and a timeout.
 * A missing tool becomes FAILED_PRECONDITION naming the package to install.
 */
export async function run(tool: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const started = process.hrtime.bigint();
  let outcome: HostToolOutcome = 'error';
  try {
    const result = await runUnobserved(tool, args, opts);
    outcome = 'ok';
    return result;
  } catch (err) {
    outcome = outcomeOf(err);
    throw err;
  } finally {
    observer?.(tool, outcome, Number(process.hrtime.bigint() - started) / 1e9);
  }
}

function outcomeOf(err: unknown): HostToolOutcome {
  if (err instanceof HostCommandError) return 'failed';
  if (err instanceof QuarryError && err.code === Code.DEADLINE_EXCEEDED) return 'timeout';
  if (err instanceof QuarryError && err.code === Code.FAILED_PRECONDITION) return 'missing';
  return 'error';
}

async function runUnobserved(tool: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  const ok = new Set([0, ...(opts.okExitCodes ?? [])]);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const { execa } = await loadExeca();
  // reject: false: execa resolves every outcome, a tool that could not start included (then an
  // error object with failed set and no exit code).
  const child = execa(tool, [...args], {
    reject: false,
    stripFinalNewline: true,
    input: opts.input,
    env: { LC_ALL: 'C' },
    // execa's types list only small literal descriptors; at run time it passes any number through.
    ...(opts.shareFd === undefined ? {} : { stdio: ['pipe', 'pipe', 'pipe', opts.shareFd] as unknown as Options['stdio'] }),
  });
  const deadline = stopAtDeadline(child, timeoutMs);
  const r = await child.finally(deadline.clear);
  if (deadline.passed() && !(r.exitCode !== undefined && ok.has(r.exitCode))) throw deadlineExceeded(tool, args, timeoutMs);
  if (r.failed && r.exitCode === undefined) throw notRun(tool, r as ExecaError & { code?: string });
  if (!ok.has(r.exitCode)) throw new HostCommandError(tool, args, r.exitCode, String(r.stderr || r.stdout));
  return { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode };
}

/** A tool kept running to take commands on stdin; its stderr is read as it comes. */
export interface HostSession {
  /** The tool's process ID (undefined when it could not be started). */
  readonly pid: number | undefined;
  /** Writes to the tool's stdin. */
  write(text: string): void;
  /** Called with each piece of stderr as it arrives. */
  onStderr(listener: (text: string) => void): void;
  /** Settles when the tool has exited, whatever the cause (never rejects). */
  readonly exited: Promise<void>;
  /** Ends stdin (the tool then exits) and waits for the exit. */
  close(): Promise<void>;
  /** Stops the tool (SIGTERM; execa sends SIGKILL 5 s later) and waits for the exit. */
  stop(): Promise<void>;
  /**
   * Puts a session started without a lifetime to work: from now it keeps this process running
   * and is stopped `lifetimeMs` from now, like one started with that lifetime.
   */
  bound(lifetimeMs: number): void;
}

/**
 * Starts `tool` as a session (argument array, LC_ALL=C, stdout ignored), bounded by
 * `lifetimeMs`: past it the tool is stopped like a run past its timeout. Without a lifetime it
 * is a spare: it has no bound and does not keep this process running (its stdin closes when this
 * process ends, and the tool then exits) until `bound` puts it to work.
 */
export async function startSession(tool: string, args: readonly string[], lifetimeMs?: number): Promise<HostSession> {
  // A spare's run counts from `bound`: its idle wait is no tool's work.
  let started = process.hrtime.bigint();
  const { execa } = await loadExeca();
  const child = execa(tool, [...args], { reject: false, buffer: false, stdout: 'ignore', env: { LC_ALL: 'C' } });
  let deadline = lifetimeMs === undefined ? undefined : stopAtDeadline(child, lifetimeMs);
  // The pipes are sockets at run time; their stream types do not show ref/unref.
  const handles = [child, child.stdin, child.stderr] as ({ ref?(): void; unref?(): void } | null)[];
  const held = (on: boolean) => {
    for (const h of handles) on ? h?.ref?.() : h?.unref?.();
  };
  if (lifetimeMs === undefined) held(false);
  // stdin may be closed by the tool's exit before a write: its error is the exit's business.
  child.stdin?.on('error', () => undefined);
  const exited = child.then(
    (r) => {
      deadline?.clear();
      const outcome: HostToolOutcome = deadline?.passed()
        ? 'timeout'
        : r.exitCode === 0
          ? 'ok'
          : r.exitCode === undefined
            ? 'error'
            : 'failed';
      observer?.(tool, outcome, Number(process.hrtime.bigint() - started) / 1e9);
    },
    () => deadline?.clear(),
  );
  return {
    pid: child.pid,
    write: (text) => child.stdin?.write(text),
    onStderr: (listener) => child.stderr?.on('data', (d: Buffer) => listener(d.toString('utf8'))),
    exited,
    async close() {
      child.stdin?.end();
      await exited;
    },
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
    bound(ms) {
      started = process.hrtime.bigint();
      deadline?.clear();
      deadline = stopAtDeadline(child, ms);
      held(true);
    },
  };
}

/**
 * Our own bound, not execa's `timeout`: execa 8 sometimes reports a run its timer killed as
 * "killed with SIGTERM" without `timedOut` (2 in 400 runs of `sleep 30` with a 100 ms bound,
 * on a loaded host). Here the flag is set before the kill, so a run we stopped is always known as
 * ours. SIGTERM first; execa sends SIGKILL 5 s later to a tool that ignores it. A tool that still
 * ends with an answer did its work (a freeze that took effect), so that answer is returned.
 */
function stopAtDeadline(child: { kill(signal?: NodeJS.Signals): boolean }, timeoutMs: number) {
  let passed = false;
  const timer = setTimeout(() => {
    passed = true;
    child.kill('SIGTERM');
  }, timeoutMs);
  return { passed: () => passed, clear: () => clearTimeout(timer) };
}

function deadlineExceeded(tool: string, args: readonly string[], timeoutMs: number): QuarryError {
  return new QuarryError(Code.DEADLINE_EXCEEDED, `${tool} ${args.join(' ')} did not finish within ${timeoutMs} ms`);
}

/** Why a tool gave no exit code before its deadline: not installed, or killed (a signal, a failed spawn). */
function notRun(tool: string, failure: ExecaError & { code?: string }): QuarryError {
  if (failure.code === 'ENOENT') {
    return new QuarryError(Code.FAILED_PRECONDITION, `host tool ${tool} is not installed: install ${packageFor(tool)} on this host`);
  }
  return new QuarryError(Code.INTERNAL, `${tool} failed: ${failure.shortMessage}`);
}

export class HostCommandError extends QuarryError {
  constructor(
    readonly tool: string,
    readonly args: readonly string[],
    readonly exitCode: number,
    readonly output: string,
  ) {
    super(Code.INTERNAL, `${tool} ${args.join(' ')} exited ${exitCode}: ${output.trim().slice(0, 500)}`);
  }
}

const PACKAGES: Record<string, string> = {
  'mkfs.ext4': 'e2fsprogs',
  resize2fs: 'e2fsprogs',
  e2fsck: 'e2fsprogs',
  dumpe2fs: 'e2fsprogs',
  'mkfs.xfs': 'xfsprogs',
  xfs_growfs: 'xfsprogs',
  'mkfs.btrfs': 'btrfs-progs',
  btrfs: 'btrfs-progs',
  losetup: 'util-linux',
  blkid: 'util-linux',
  mount: 'mount',
  umount: 'mount',
  fsfreeze: 'util-linux',
  cp: 'coreutils',
  fallocate: 'util-linux',
  flock: 'util-linux',
};

function packageFor(tool: string): string {
  return PACKAGES[tool] ?? `the package that provides ${tool}`;
}
