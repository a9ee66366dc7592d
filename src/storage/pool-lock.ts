import { closeSync, constants, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { deadlineExceeded } from '../domain/errors.js';
import { flockFd } from '../host/flock.js';
import { KeyedMutex } from './keyed-mutex.js';

const require = createRequire(import.meta.url);
// N-API addon with prebuilt binaries: loads on every Node.js release, nothing compiles at install.
const { tryLock } = require('fs-native-extensions') as { tryLock(fd: number, opts?: { shared?: boolean }): boolean };

const POLL_MS = 5;

/** The pool generation: a little-endian u64 at the start of the lock file (design: Capacity). */
const GENERATION_BYTES = 8;

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
 *
 * The lock file also holds the pool generation: whoever changes a record bumps it first, under
 * the lock, so a process finding another number than the one it last saw knows that records
 * changed behind its back and re-reads them before trusting what it keeps in memory.
 */
export class PoolLock {
  private readonly local: KeyedMutex;
  private compat?: Promise<FileHandle>;
  /** The generation this process last read or wrote; undefined when unknown. */
  private seen?: bigint;
  private held?: { fd: number; generation?: bigint; bumped: boolean };
  /** Called under the lock when records may have changed since this process last held it. */
  onForeignChange?: () => void;

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
        const fd = await this.acquire();
        try {
          const generation = readGeneration(fd);
          if (generation === undefined || generation !== this.seen) this.onForeignChange?.();
          this.seen = generation;
          this.held = { fd, generation, bumped: false };
          return await fn();
        } finally {
          this.held = undefined;
          // Closing the only descriptor of the description releases the OFD lock; no descriptor
          // open for writing stays behind to keep the pool's filesystem from a read-only remount.
          closeSync(fd);
        }
      },
      `the pool lock ${this.lockFile}`,
    );
  }

  /**
   * Announces a record change to every other process, before it happens: the generation goes up
   * once per hold. Not fsynced: after a crash every process starts afresh and reads all records.
   * A generation that cannot be written is cut to nothing, which every reader takes as "re-read".
   */
  async bumpGeneration(): Promise<void> {
    const held = this.held;
    if (!held) {
      this.seen = undefined; // a change outside the lock (never done): trust nothing kept in memory
      this.onForeignChange?.();
      return;
    }
    if (held.bumped) return;
    held.bumped = true;
    const next = ((held.generation ?? 0n) + 1n) & 0xffffffffffffffffn;
    const buf = Buffer.alloc(GENERATION_BYTES);
    buf.writeBigUInt64LE(next);
    try {
      const bytesWritten = writeSync(held.fd, buf, 0, GENERATION_BYTES, 0);
      if (bytesWritten !== GENERATION_BYTES) throw new Error('short write');
      this.seen = next;
    } catch {
      ftruncateSync(held.fd, 0);
      this.seen = undefined;
    }
  }

  /**
   * The pool generation as it stands between changes, read without waiting and without joining
   * this process's queue for the lock: under a shared lock, which no holder of the exclusive one
   * lets in, so no change is half made while it is read. Undefined while another hold is in
   * progress (here or in another process) or when the lock file has no generation: the caller
   * then trusts nothing it keeps (design: Records).
   */
  async peekGeneration(): Promise<bigint | undefined> {
    await this.holdCompatLock(); // a 0.1.0 process changes records without a generation: kept out first
    const fd = openSync(this.lockFile, constants.O_RDONLY);
    try {
      return tryLock(fd, { shared: true }) ? readGeneration(fd) : undefined;
    } finally {
      closeSync(fd); // the only descriptor of its description: the shared lock goes with it
    }
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

  /** Opened synchronously, like every call inside a hold (see readGeneration). */
  private async acquire(): Promise<number> {
    // Read-write (not append): the generation is read and rewritten in place at offset 0.
    const fd = openSync(this.lockFile, constants.O_RDWR | constants.O_CREAT, 0o600);
    try {
      const deadline = Date.now() + this.waitBoundMs;
      while (!tryLock(fd)) {
        if (Date.now() > deadline) {
          throw deadlineExceeded(`the pool lock ${this.lockFile} is held by another process for more than ${this.waitBoundMs} ms`);
        }
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
      return fd;
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }
}

/**
 * Synchronous, like the other calls inside a hold: an 8-byte read of a cached page takes
 * microseconds, while a libuv request would wait behind every fsync queued by requests outside
 * the lock, and the whole pool waits for the holder (design: Pool lock and concurrency).
 */
function readGeneration(fd: number): bigint | undefined {
  const buf = Buffer.alloc(GENERATION_BYTES);
  const bytesRead = readSync(fd, buf, 0, GENERATION_BYTES, 0);
  return bytesRead === GENERATION_BYTES ? buf.readBigUInt64LE(0) : undefined;
}

/** Gives a new lock file its generation word, so the first change needs no new block (a full pool). */
export async function initGeneration(lockFile: string): Promise<void> {
  const handle = await open(lockFile, constants.O_RDWR | constants.O_CREAT, 0o600);
  try {
    if ((await handle.stat()).size < GENERATION_BYTES) await handle.write(Buffer.alloc(GENERATION_BYTES), 0, GENERATION_BYTES, 0);
  } finally {
    await handle.close();
  }
}

/**
 * Takes an exclusive flock on an open file or directory (the pool directory while
 * a pool is opened, as every release does); released when the handle is closed.
 */
export function flockHandle(handle: FileHandle, waitBoundMs: number, what: string): Promise<void> {
  return flockFd(handle.fd, 'exclusive', waitBoundMs, what);
}
