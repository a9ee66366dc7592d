/**
 * The shape of every record read from a pool, checked on read (design: Records). A record is
 * data from disk: hand-edited, torn by a bug, or written by another version. Nothing read is
 * trusted with a cast; a record that does not fit is FAILED_PRECONDITION naming the file and
 * the field, and affects no other object.
 *
 * valibot: a small, well-kept schema library whose schemas are plain data, so the rules below
 * read like the record types in records.ts, and its issues carry the path of the bad field.
 *
 * Adding an OPTIONAL field to a record (no format change): add it to the interface in
 * records.ts, then one line here, in the entries of the object it belongs to, e.g.
 *   formatting: v.optional(v.picklist(['started', 'done'])),
 * Objects are loose: a field this version does not know is kept as it is, so a record written
 * by a newer Quarry of the same format survives a rewrite by an older one.
 */
import * as v from 'valibot';
import { failedPrecondition } from '../domain/errors.js';
import { ACCESS_MODES, FS_TYPES } from '../domain/volume.js';
import type {
  AttachmentRecord,
  FreezeRecord,
  PoolRecord,
  PublicationRecord,
  SnapshotRecord,
  StagingRecord,
  VolumeRecord,
} from './records.js';

/** The record format this version writes, and the newest it reads. */
export const RECORD_FORMAT = 1;

/**
 * Upgrades from older formats, applied in order on read: MIGRATIONS[n] turns a format-n record
 * into a format n+1 one. The next write stores the new format. Format 1 is the first.
 */
const MIGRATIONS: Record<number, (old: Record<string, unknown>) => Record<string, unknown>> = {};

// ---- building blocks ------------------------------------------------------------------------

const text = v.string();
const nonEmpty = v.pipe(v.string(), v.minLength(1, 'must not be empty'));
const bytes = v.pipe(
  v.number(),
  v.integer('must be a whole number of bytes'),
  v.minValue(0, 'must not be negative'),
  v.maxValue(Number.MAX_SAFE_INTEGER, 'is too large to be exact'),
);
const timestamp = v.pipe(
  v.string(),
  v.check((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO 8601 timestamp'),
);
const accessType = v.picklist(['mount', 'block']);
const accessMode = v.picklist(ACCESS_MODES);
const objectState = v.picklist(['creating', 'ready', 'deleting']);
const stringMap = v.record(v.string(), v.string());

/** Keys of T that must be present. */
type RequiredKeys<T> = { [K in keyof T]-?: object extends Pick<T, K> ? never : K }[keyof T];
/** Entries for T: every required field must have a rule; optional ones may; no others (typos fail to compile). */
type EntriesFor<T> = { [K in RequiredKeys<T>]: v.GenericSchema } & { [K in Exclude<keyof T, RequiredKeys<T>>]?: v.GenericSchema };

// ---- volume records -------------------------------------------------------------------------

const stagingEntries = {
  nodeId: nonEmpty,
  stagingPath: nonEmpty,
  accessType,
  device: v.optional(text),
} satisfies EntriesFor<StagingRecord>;

const publicationEntries = {
  nodeId: nonEmpty,
  targetPath: nonEmpty,
  readOnly: v.boolean(),
  accessType,
  accessMode,
  mountFlags: v.array(text),
} satisfies EntriesFor<PublicationRecord>;

const attachmentEntries = {
  nodeId: nonEmpty,
  token: nonEmpty,
  accessMode,
  readOnly: v.boolean(),
} satisfies EntriesFor<AttachmentRecord>;

const freezeEntries = {
  nodeId: nonEmpty,
  mountPath: nonEmpty,
  holder: nonEmpty,
  since: timestamp,
  until: timestamp,
} satisfies EntriesFor<FreezeRecord>;

const volumeEntries = {
  format: v.literal(RECORD_FORMAT),
  kind: v.literal('volume'),
  id: nonEmpty,
  name: nonEmpty,
  pool: nonEmpty,
  state: objectState,
  sizeBytes: bytes,
  fsType: v.picklist(FS_TYPES),
  provisioning: v.picklist(['thin', 'thick']),
  accessTypes: v.array(accessType),
  source: v.optional(v.looseObject({ kind: v.picklist(['snapshot', 'volume']), id: nonEmpty })),
  requestKey: text,
  parameters: stringMap,
  kubernetes: v.optional(v.looseObject({ pvcName: v.optional(text), pvcNamespace: v.optional(text), pvName: v.optional(text) })),
  topologyNode: v.optional(text),
  createdAt: timestamp,
  staging: v.array(v.looseObject(stagingEntries)),
  publications: v.array(v.looseObject(publicationEntries)),
  attachments: v.array(v.looseObject(attachmentEntries)),
  formatState: v.optional(v.picklist(['began', 'done'])),
  freeze: v.optional(v.looseObject(freezeEntries)),
} satisfies EntriesFor<VolumeRecord>;

// ---- snapshot records -----------------------------------------------------------------------

const snapshotEntries = {
  format: v.literal(RECORD_FORMAT),
  kind: v.literal('snapshot'),
  id: nonEmpty,
  name: nonEmpty,
  pool: nonEmpty,
  state: objectState,
  sourceVolumeId: nonEmpty,
  sizeBytes: bytes,
  fsType: v.picklist(FS_TYPES),
  createdAt: timestamp,
  parameters: stringMap,
  allocatedBytes: v.optional(bytes),
  kubernetes: v.optional(
    v.looseObject({ snapshotName: v.optional(text), snapshotNamespace: v.optional(text), snapshotContentName: v.optional(text) }),
  ),
  group: v.optional(v.looseObject({ id: nonEmpty, name: nonEmpty, size: v.pipe(v.number(), v.integer(), v.minValue(1)) })),
} satisfies EntriesFor<SnapshotRecord>;

const SCHEMAS = {
  volume: v.looseObject(volumeEntries),
  snapshot: v.looseObject(snapshotEntries),
};

// ---- reading --------------------------------------------------------------------------------

/** The error for a record that cannot be used: names the file, the field and what to do. */
export function corruptRecord(path: string, why: string) {
  return failedPrecondition(
    `metadata record ${path} is corrupt (${why}); restore it from backup or remove the record and its image by hand`,
  );
}

/**
 * A checked record of `kind` for object `id` from the text of the file at `path`. Older formats
 * are migrated in memory; a newer format is refused rather than guessed at.
 */
export function parseRecord<R extends PoolRecord>(kind: R['kind'], id: string, path: string, textOfFile: string): R {
  let value: unknown;
  try {
    value = JSON.parse(textOfFile);
  } catch {
    throw corruptRecord(path, textOfFile.trim() === '' ? 'it is empty' : 'it is not valid JSON: torn or hand-edited');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw corruptRecord(path, 'it is not a JSON object');
  let record = value as Record<string, unknown>;
  const format = record.format;
  if (typeof format !== 'number' || !Number.isInteger(format) || format < 1) {
    throw corruptRecord(path, `field "format" must be a record format number, not ${JSON.stringify(format)?.slice(0, 32)}`);
  }
  if (format > RECORD_FORMAT) {
    throw failedPrecondition(
      `metadata record ${path} has format ${format}, written by a newer Quarry; ` +
        `this one reads formats up to ${RECORD_FORMAT}: upgrade quarry on this host`,
    );
  }
  for (let f = format; f < RECORD_FORMAT; f++) {
    const step = MIGRATIONS[f];
    if (!step) throw corruptRecord(path, `no migration from record format ${f}`);
    record = { ...step(record), format: f + 1 };
  }
  const result = v.safeParse(SCHEMAS[kind], record);
  if (!result.success) {
    const issue = result.issues[0];
    throw corruptRecord(path, `field "${v.getDotPath(issue) ?? '(record)'}" ${issue.message}`);
  }
  if (record.id !== id) throw corruptRecord(path, `field "id" is ${JSON.stringify(String(record.id)).slice(0, 64)}, not ${id}`);
  return result.output as unknown as R;
}
