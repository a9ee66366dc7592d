import { open, type FileHandle } from 'node:fs/promises';
import { flockExclusive } from '../host/flock.js';
import { KeyedMutex } from './keyed-mutex.js';

/**
 * Serialises record updates on one pool across processes (controller and node
 * share a pool). The lock is flock(2) on `<pool>/.lock`, the same kernel lock
 * every Quarry release has taken, so processes of different releases on one pool
 * exclude each other; a killed process never leaves it behind.
 * (design: Pool lock and concurrency)
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
        await handle.close(); // closing our only descriptor releases the flock
      }
    }, `the pool lock ${this.lockFile}`);
  }

  private async acquire(): Promise<FileHandle> {
    const handle = await open(this.lockFile, 'a', 0o600);
    try {
      await flockExclusive(handle.fd, this.waitBoundMs, `the pool lock ${this.lockFile}`);
      return handle;
    } catch (err) {
      await handle.close();
      throw err;
    }
  }
}

/**
 * Takes an exclusive flock on an open file or directory; released when the
 * handle is closed. (design: Pool lock and concurrency)
 */
export function flockHandle(handle: FileHandle, waitBoundMs: number, what: string): Promise<void> {
  return flockExclusive(handle.fd, waitBoundMs, what);
}
