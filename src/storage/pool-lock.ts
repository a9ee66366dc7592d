import { open, type FileHandle } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { deadlineExceeded } from '../domain/errors.js';
import { KeyedMutex } from './keyed-mutex.js';

const require = createRequire(import.meta.url);
const { flockSync } = require('fs-ext') as { flockSync(fd: number, flags: 'ex' | 'exnb' | 'un'): void };

const POLL_MS = 5;

/**
 * Serialises record updates on one pool across processes (controller and node
 * share a pool). flock is held by the kernel, so a killed process never leaves
 * a stale lock. The non-blocking variant is polled so that no libuv worker
 * thread ever blocks on it.
 */
export class PoolLock {
  private readonly local: KeyedMutex;

  constructor(
    private readonly lockFile: string,
    private readonly waitBoundMs = 60_000,
  ) {
    this.local = new KeyedMutex(waitBoundMs);
  }

  run<T>(fn: () => Promise<T>): Promise<T> {
    return this.local.run('pool', async () => {
      const handle = await this.acquire();
      try {
        return await fn();
      } finally {
        unlockFlock(handle);
        await handle.close();
      }
    }, `the pool lock ${this.lockFile}`);
  }

  private async acquire(): Promise<FileHandle> {
    const handle = await open(this.lockFile, 'a', 0o600);
    try {
      await flockPolled(handle, this.waitBoundMs, `the pool lock ${this.lockFile}`);
      return handle;
    } catch (err) {
      await handle.close();
      throw err;
    }
  }
}

/**
 * Takes an exclusive flock on an open file or directory, polling the
 * non-blocking variant so no libuv worker thread ever blocks on it.
 */
export async function flockPolled(handle: FileHandle, waitBoundMs: number, what: string): Promise<void> {
  const deadline = Date.now() + waitBoundMs;
  for (;;) {
    try {
      flockSync(handle.fd, 'exnb');
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK') throw err;
    }
    if (Date.now() > deadline) throw deadlineExceeded(`${what} is held by another process for more than ${waitBoundMs} ms`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

export function unlockFlock(handle: FileHandle): void {
  flockSync(handle.fd, 'un');
}
