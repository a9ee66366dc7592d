/**
 * One JSON line per RPC: which method, which objects it named, how long it took, how it ended.
 * The line is built from the REDACTED request and from a fixed set of identifying fields; the
 * raw request is never logged.
 */
import type { Logger } from 'pino';
import { status } from '@grpc/grpc-js';
import { codeName } from './errors.js';

/** Top-level request fields worth a log line: object IDs, names and paths. Never whole messages. */
const ID_FIELDS = [
  'volume_id',
  'snapshot_id',
  'source_volume_id',
  'source_volume_ids',
  'group_snapshot_id',
  'base_snapshot_id',
  'target_snapshot_id',
  'node_id',
  'name',
  'staging_target_path',
  'target_path',
  'volume_path',
] as const;

const MAX_STRING = 256;
const MAX_LIST = 16;

export interface RpcRecord {
  /** e.g. `Controller` */
  service: string;
  /** e.g. `CreateVolume` */
  method: string;
  /** gRPC status code number. */
  code: status;
  durationMs: number;
  /** IDs taken from the redacted request by rpcIds(). */
  ids: Record<string, string | string[]>;
  /** The (scrubbed) error message when code is not OK. */
  error?: string;
}

const clip = (s: string) => (s.length > MAX_STRING ? `${s.slice(0, MAX_STRING)}...` : s);

/**
 * The identifying fields of a redacted request: non-empty strings (or lists of strings) under
 * the names in ID_FIELDS, plus the source of a new volume (`content_source.snapshot_id` /
 * `content_source.volume_id`) when there is one.
 */
export function rpcIds(redactedRequest: Record<string, unknown>): Record<string, string | string[]> {
  const ids: Record<string, string | string[]> = {};
  for (const key of ID_FIELDS) {
    const v = redactedRequest[key];
    if (typeof v === 'string' && v !== '') ids[key] = clip(v);
    else if (Array.isArray(v) && v.length > 0 && v.every((e) => typeof e === 'string')) {
      ids[key] = (v as string[]).slice(0, MAX_LIST).map(clip);
    }
  }
  const source = redactedRequest.volume_content_source;
  if (source && typeof source === 'object') {
    const s = source as Record<string, Record<string, unknown> | null | undefined>;
    const snap = s.snapshot?.snapshot_id;
    const vol = s.volume?.volume_id;
    if (typeof snap === 'string' && snap !== '') ids.content_source_snapshot_id = clip(snap);
    if (typeof vol === 'string' && vol !== '') ids.content_source_volume_id = clip(vol);
  }
  return ids;
}

/** Codes that mean the plugin itself failed (as opposed to the caller asking for something wrong). */
const SERVER_FAULTS = new Set<status>([status.UNKNOWN, status.INTERNAL, status.DATA_LOSS]);

/**
 * Writes the line: `{ service, method, <ids>, duration_ms, code, error? }` with msg "rpc".
 * OK is info, a server fault is error, any other failure is warn.
 */
export function logRpc(logger: Logger, rec: RpcRecord): void {
  // Below the level: build nothing (a Probe answered at --log-level warn costs no log line).
  if (rec.code === status.OK && !logger.isLevelEnabled('info')) return;
  const line: Record<string, unknown> = {
    service: rec.service,
    method: rec.method,
    ...rec.ids,
    duration_ms: Math.round(rec.durationMs * 1000) / 1000,
    code: codeName(rec.code),
  };
  if (rec.code !== status.OK && rec.error !== undefined) line.error = rec.error;
  if (rec.code === status.OK) logger.info(line, 'rpc');
  else if (SERVER_FAULTS.has(rec.code)) logger.error(line, 'rpc');
  else logger.warn(line, 'rpc');
}
