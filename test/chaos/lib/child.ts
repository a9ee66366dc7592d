// Chaos helper: runs writer-child.js (fill and counter writers) in a separate node process.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { onCleanup, type HasAfter } from '../../helpers/scratch.js';

const WRITER_CHILD = fileURLToPath(new URL('./writer-child.js', import.meta.url));

export interface Child {
  process: ChildProcess;
  /** Resolves with the child's stdout parsed as JSON; rejects when it exits non-zero. */
  result: Promise<Record<string, unknown>>;
}

/** Starts `node writer-child.js ...args`; killed after the test if still running. */
export function startWriterChild(t: HasAfter, args: string[]): Child {
  const p = spawn(process.execPath, [WRITER_CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  p.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const result = new Promise<Record<string, unknown>>((resolve, reject) => {
    p.once('close', (code, signal) => {
      if (code === 0) resolve(JSON.parse(out) as Record<string, unknown>);
      else reject(new Error(`writer-child ${args[0]} exited ${code ?? signal}: ${err.slice(0, 500)}`));
    });
  });
  result.catch(() => undefined);
  onCleanup(t, async () => {
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await result.catch(() => undefined);
  });
  return { process: p, result };
}

export interface FillResult {
  written: number;
  errors: Record<string, number>;
}

/** Fills `path` from offset 0 to `total` bytes in fsynced chunks; counts failed chunks by errno. */
export async function fill(t: HasAfter, path: string, total: number, chunk: number, stopOnEnospc: boolean): Promise<FillResult> {
  return (await startWriterChild(t, ['fill', path, String(total), String(chunk), stopOnEnospc ? '1' : '0'])
    .result) as unknown as FillResult;
}
