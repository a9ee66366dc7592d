import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { deadlineExceeded } from '../domain/errors.js';
import { flockFd } from '../host/flock.js';
import { KeyedMutex } from './keyed-mutex.js';

const require = createRequire(import.meta.url);
// N-API addon with prebuilt binaries: loads on every Node.js release, nothing compiles at install.
const { tryLock } = require('fs-native-extensions') as { tryLock(fd: number): boolean };

const POLL_MS = 5;

/**
 * Serialises record updates on one pool across processes (controller and node
 * share a pool). Two kernel locks on `<pool>/.lock`, both dropped by the kernel
 * when the process dies (design: Pool lock and concurrency):
 *
 * - per change, an exclusive OFD lock (fcntl F_OFD_SETLK), a syscall of our own,
 *   polled so no libuv worker thread ever blocks on it;
 * - for the process's life, a shared flock(2), taken once. 0.1.0 took an
 *   exclusive flock per change and knows nothing of OFD locks, which do not
 *   exclude flocks; our shared flock keeps such a process out while we run, and
 *   we wait for its change to end before we start.
 */
export class PoolLock {
  private readonly local: KeyedMutex;
  private compat?: Promise<FileHandle>;

  constructor(
    private readonly lockFile: string,
    private readonly waitBoundMs = 60_000,
  ) {
    this.local = new KeyedMutex(waitBoundMs);
  }

  run<T>(fn: () => Promise<T>): Promise<T> {
    return this.local.run(
      'pool',
      async () => {
        await this.holdCompatLock();
        const handle = await this.acquire();
        try {
          return await fn();
        } finally {
          await handle.close(); // closing the only descriptor of the description releases the OFD lock
        }
      },
      `the pool lock ${this.lockFile}`,
    );
  }

  /** Drops the lifetime lock (tests, shutdown); the next run() takes it again. */
  async close(): Promise<void> {
    const held = this.compat;
    this.compat = undefined;
    await (await held?.catch(() => undefined))?.close();
  }

  private holdCompatLock(): Promise<FileHandle> {
    this.compat ??= (async () => {
      // Read-only: a descriptor open for writing for the process's life would keep the pool's
      // filesystem from being remounted read-only (flock needs no write access).
      const handle = await open(this.lockFile, constants.O_RDONLY | constants.O_CREAT, 0o600);
      try {
        await flockFd(handle.fd, 'shared', this.waitBoundMs, `the pool lock ${this.lockFile} (held by a Quarry 0.1.0 process)`);
        return handle;
      } catch (err) {
        await handle.close();
        throw err;
      }
    })().catch((err: unknown) => {
      this.compat = undefined; // a later run() tries again
      throw err;
    });
    return this.compat;
  }

  private async acquire(): Promise<FileHandle> {
    const handle = await open(this.lockFile, 'a', 0o600);
    try {
      const deadline = Date.now() + this.waitBoundMs;
      while (!tryLock(handle.fd)) {
        if (Date.now() > deadline) {
          throw deadlineExceeded(`the pool lock ${this.lockFile} is held by another process for more than ${this.waitBoundMs} ms`);
        }
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
      return handle;
    } catch (err) {
      await handle.close();
      throw err;
    }
  }
}

/**
 * Takes an exclusive flock on an open file or directory (the pool directory while
 * a pool is opened, as every release does); released when the handle is closed.
 */
export function flockHandle(handle: FileHandle, waitBoundMs: number, what: string): Promise<void> {
  return flockFd(handle.fd, 'exclusive', waitBoundMs, what);
}
