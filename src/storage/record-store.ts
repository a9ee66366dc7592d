import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { failedPrecondition } from '../domain/errors.js';
import { removeFileDurable, writeFileAtomic } from './durable-file.js';
import { RECORD_FORMAT, type PoolRecord } from './records.js';

/**
 * One JSON record per object in a directory. Names passed in are already
 * checked IDs, so `${id}.json` is always a single path component.
 */
export class RecordStore<R extends PoolRecord> {
  constructor(
    readonly dir: string,
    private readonly kind: R['kind'],
  ) {}

  pathOf(id: string): string {
    return join(this.dir, `${id}.json`);
  }

  async read(id: string): Promise<R | undefined> {
    let text: string;
    try {
      text = await readFile(this.pathOf(id), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return this.parse(id, text);
  }

  async write(record: R): Promise<void> {
    await writeFileAtomic(this.pathOf(record.id), `${JSON.stringify(record, null, 2)}\n`);
  }

  async remove(id: string): Promise<void> {
    await removeFileDurable(this.pathOf(id));
  }

  /** IDs of every record, sorted, so listings have a stable order. */
  async ids(): Promise<string[]> {
    const names = await readdir(this.dir);
    return names
      .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
      .map((n) => n.slice(0, -'.json'.length))
      .sort();
  }

  /** Every readable record. A corrupt one is reported and skipped so that it affects no other object. */
  async all(onCorrupt?: (id: string, err: Error) => void): Promise<R[]> {
    const out: R[] = [];
    for (const id of await this.ids()) {
      try {
        const r = await this.read(id);
        if (r) out.push(r);
      } catch (err) {
        if (!onCorrupt) throw err;
        onCorrupt(id, err as Error);
      }
    }
    return out;
  }

  private parse(id: string, text: string): R {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw corrupt(this.pathOf(id), 'it is not valid JSON');
    }
    const r = value as Partial<PoolRecord>;
    if (r?.format !== RECORD_FORMAT || r.kind !== this.kind || r.id !== id) {
      throw corrupt(this.pathOf(id), `expected a format ${RECORD_FORMAT} ${this.kind} record for ${id}`);
    }
    return value as R;
  }
}

function corrupt(path: string, why: string) {
  return failedPrecondition(
    `metadata record ${path} is corrupt (${why}); restore it from backup or remove the record and its image by hand`,
  );
}
