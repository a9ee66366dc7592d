import { readFile as readFileCb, readFileSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { promisify } from 'node:util';
import { resourceExhausted } from '../domain/errors.js';
import { deepFreeze } from '../domain/freeze.js';
import {
  commitTemp,
  removeFile,
  removeFileDurable,
  syncDirShared,
  writeFileAtomic,
  writeTemp,
  type AtomicWriteOptions,
} from './durable-file.js';
import { parseRecord } from './record-schema.js';
import type { PoolRecord } from './records.js';
import { fileIn } from './pool-dir.js';

const LIST_BATCH = 64;
/**
 * How long a listing served at an unchanged pool generation may stand: a record edited by hand
 * (not through Quarry, so without a new generation) is seen within this (design: Records).
 */
export const LISTING_TTL_MS = 10_000;
/** Callback readFile: no FileHandle object per read (design: Performance targets). */
const readFile = promisify(readFileCb);

/** A record removed between its stat and its read is not there: undefined. Any other error stands. */
function undefinedIfMissing(err: unknown): undefined {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  throw err;
}

export interface PreparedRecord<R> {
  record: R;
  tmp: string;
  /** The temporary file's content: what a read of the record returns once it is committed. */
  text: string;
  committed: boolean;
}

/** A record file as this process last saw it: its identity, and its parse (or, not parsed yet, the text it wrote). */
type KnownRecord<R> = { identity: string; record: R; text?: undefined } | { identity: string; record?: undefined; text: string };

/** Told about every change this store makes: the pool's capacity ledger and generation follow it. */
export interface RecordHooks<R> {
  /** Awaited before a file changes (the pool bumps its generation first, so other processes re-read). */
  beforeChange?(): Promise<void>;
  written?(record: R): void;
  removed?(id: string): void;
  /** A change failed part-way: what is on disk is not known without reading it. */
  failed?(): void;
}

/**
 * One JSON record per object in a directory. Names passed in are already
 * checked IDs, so `${id}.json` is always a single path component.
 */
export class RecordStore<R extends PoolRecord> {
  /**
   * Parsed records by file identity (inode, mtime, size). Every write renames a new file into
   * place, so a changed record is always a changed identity; the files stay the truth.
   */
  private readonly parsed = new Map<string, KnownRecord<R>>();

  constructor(
    readonly dir: string,
    private readonly kind: R['kind'],
    private readonly hooks: RecordHooks<R> = {},
  ) {}

  pathOf(id: string): string {
    return fileIn(this.dir, `${id}.json`);
  }

  async read(id: string): Promise<R | undefined> {
    // A record that does not exist (every new volume's first lookup) is answered by one stat of a
    // cached directory entry, with no libuv request and no error object (design: Performance targets).
    // One that exists is always read: a request that names one volume decides on its file, never on
    // an identity match (an inode number reused within one timestamp tick would match; design: Records).
    // The read is synchronous, as the stat before it: a record is a few hundred bytes in the page
    // cache, and one read in place costs less than the four event-loop round trips of an async one.
    const identity = this.identityOf(id);
    if (identity === undefined) return undefined;
    let text: string;
    try {
      text = readFileSync(this.pathOf(id), 'utf8');
    } catch (err) {
      return undefinedIfMissing(err);
    }
    return this.keep(id, identity, text);
  }

  /** Reads (async: a listing reads many) a record whose file had `identity` just now. */
  private async readAt(id: string, identity: string): Promise<R | undefined> {
    let text: string;
    try {
      text = await readFile(this.pathOf(id), 'utf8');
    } catch (err) {
      return undefinedIfMissing(err);
    }
    return this.keep(id, identity, text);
  }

  /** Parses a record read just now, and keeps the parse for listings. */
  private keep(id: string, identity: string, text: string): R {
    const record = this.parse(id, text);
    // For listings (all): replaced between the stat and the read, the identity kept is the older one, so the next listing reads again.
    this.parsed.set(id, { identity, record });
    return record;
  }

  async write(record: R, opts?: AtomicWriteOptions): Promise<void> {
    await this.hooks.beforeChange?.();
    const text = `${JSON.stringify(record, null, 2)}\n`;
    try {
      await writeFileAtomic(this.pathOf(record.id), text, opts, () => this.remember(record.id, text));
      this.hooks.written?.(record);
    } catch (err) {
      this.hooks.failed?.();
      throw this.noSpace(err, record.id);
    }
  }

  /** ENOSPC as RESOURCE_EXHAUSTED naming the record; any other error as it is. */
  private noSpace(err: unknown, id: string): unknown {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') return err;
    return resourceExhausted(
      `the pool has no space left to write ${this.pathOf(id)}; free space in the pool (delete volumes or snapshots) and retry`,
    );
  }

  /**
   * Writes a record's new content to a fsynced temporary file, outside the pool lock, so that the
   * change under the lock is one rename (commit). Drop it with discard when it is not committed.
   */
  async prepare(record: R): Promise<PreparedRecord<R>> {
    try {
      const text = `${JSON.stringify(record, null, 2)}\n`;
      return { record, tmp: await writeTemp(this.pathOf(record.id), text), text, committed: false };
    } catch (err) {
      throw this.noSpace(err, record.id);
    }
  }

  /** Renames a prepared record into place. Call under the pool lock. A temporary file swept away meanwhile is written again. */
  async commit(p: PreparedRecord<R>, opts?: AtomicWriteOptions): Promise<void> {
    await this.hooks.beforeChange?.();
    try {
      await commitTemp(p.tmp, this.pathOf(p.record.id), opts, () => this.remember(p.record.id, p.text));
      p.committed = true;
      this.hooks.written?.(p.record);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.hooks.failed?.();
        throw this.noSpace(err, p.record.id);
      }
      p.committed = true; // nothing left to discard
      await this.write(p.record, opts);
    }
  }

  async discard(p: PreparedRecord<R>): Promise<void> {
    if (!p.committed) await removeFile(p.tmp);
  }

  /**
   * fsyncs the records directory: makes renames and removals done with `syncDir: false` durable.
   * Concurrent callers share one fsync that started after each of their calls (syncDirShared).
   */
  async sync(): Promise<void> {
    await syncDirShared(this.dir);
  }

  async remove(id: string, opts?: AtomicWriteOptions): Promise<void> {
    await this.hooks.beforeChange?.();
    try {
      await removeFileDurable(this.pathOf(id), opts);
      this.hooks.removed?.(id);
    } catch (err) {
      this.hooks.failed?.();
      throw err;
    }
  }

  /** IDs of every record, sorted, so listings have a stable order. */
  async ids(): Promise<string[]> {
    const names = await readdir(this.dir);
    return names
      .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
      .map((n) => n.slice(0, -'.json'.length))
      .sort();
  }

  /**
   * Every readable record, for a listing outside the pool lock (ListVolumes). `generation` is the
   * pool generation read between changes just before (PoolLock.peekGeneration): every process bumps
   * it under the lock before it changes a record, so while it is the one the last full pass started
   * at, no record changed since through Quarry and that pass's records are served as they were,
   * with no file touched. Undefined (a change in progress, or no generation) always reads.
   */
  async allAt(generation: bigint | undefined, onCorrupt?: (id: string, err: Error) => void): Promise<R[]> {
    const last = this.listing;
    const now = Date.now();
    if (generation !== undefined && last?.generation === generation && now - last.at < LISTING_TTL_MS) return [...last.records];
    const records = await this.all(onCorrupt);
    // Read after the generation: a change made meanwhile has a later number, so the next call reads again.
    this.listing = generation === undefined ? undefined : { generation, at: now, records };
    return [...records];
  }

  /** The last full pass made by allAt, and the pool generation it started at. */
  private listing?: { generation: bigint; at: number; records: R[] };

  /** Every readable record. A corrupt one is reported and skipped so that it affects no other object. */
  async all(onCorrupt?: (id: string, err: Error) => void): Promise<R[]> {
    const ids = await this.ids();
    const present = new Set(ids);
    for (const id of this.parsed.keys()) if (!present.has(id)) this.parsed.delete(id);
    // A stat instead of a read for unchanged records. Synchronous: a stat of a cached inode takes a
    // few microseconds, a libuv request several times that in CPU, and capacity checks list every
    // record under the pool lock (design: Performance targets).
    const found: (R | undefined)[] = new Array(ids.length);
    const changed: Array<{ index: number; id: string; identity: string }> = [];
    for (let index = 0; index < ids.length; index++) {
      const id = ids[index]!;
      try {
        const identity = this.identityOf(id);
        if (identity === undefined) continue; // removed since the readdir
        const known = this.known(id, identity);
        if (known) found[index] = known;
        else changed.push({ index, id, identity });
      } catch (err) {
        if (!onCorrupt) throw err;
        onCorrupt(id, err as Error);
      }
    }
    // Reads (and parses, kept by identity) of changed records, a batch at a time (bounded open files).
    for (let start = 0; start < changed.length; start += LIST_BATCH) {
      await Promise.all(
        changed.slice(start, start + LIST_BATCH).map(async ({ index, id, identity }) => {
          try {
            found[index] = await this.readAt(id, identity);
          } catch (err) {
            if (!onCorrupt) throw err;
            onCorrupt(id, err as Error);
          }
        }),
      );
    }
    return found.filter((r): r is R => r !== undefined);
  }

  /** The record as last seen, if its file still has `identity`; a text this process wrote is parsed on first use. */
  private known(id: string, identity: string): R | undefined {
    const known = this.parsed.get(id);
    if (known?.identity !== identity) return undefined;
    if (known.text === undefined) return known.record;
    const record = this.parse(id, known.text);
    this.parsed.set(id, { identity, record });
    return record;
  }

  /**
   * Keeps what this process just renamed into place, with the identity the file has now: taken
   * right after the rename, before anything waits, so no later change can be mistaken for it.
   */
  private remember(id: string, text: string): void {
    const identity = this.identityOf(id);
    if (identity === undefined) this.parsed.delete(id);
    else this.parsed.set(id, { identity, text });
  }

  /**
   * The record file's identity (inode, change times, size), or undefined when it is gone. Times in
   * ms as doubles (sub-microsecond steps near today) are finer than the kernel's file-time clock tick.
   */
  private identityOf(id: string): string | undefined {
    const st = statSync(this.pathOf(id), { throwIfNoEntry: false });
    return st && `${st.ino}:${st.mtimeMs}:${st.ctimeMs}:${st.size}`;
  }

  /**
   * Checked against the record schema: a bad record is FAILED_PRECONDITION naming the file and the
   * field. Frozen, as one parse is handed to every later reader while its file is unchanged.
   */
  private parse(id: string, text: string): R {
    return deepFreeze(parseRecord<R>(this.kind, id, this.pathOf(id), text));
  }
}
