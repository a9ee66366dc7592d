/**
 * Turns whatever a handler threw into a gRPC status. A QuarryError keeps its code and message;
 * anything else becomes INTERNAL with its message. This never throws.
 */
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { clipText } from '../domain/clip.js';
import { type QuarryError, asQuarryError } from '../domain/errors.js';

/** The longest status message sent or logged: room for a clear cause and fix, never a flood. */
export const MAX_STATUS_MESSAGE = 1024;

/** The gRPC status name of a code, e.g. `NOT_FOUND`; `UNKNOWN(99)` for a number outside the table. */
export function codeName(code: number): string {
  return (status as unknown as Record<number, string>)[code] ?? `UNKNOWN(${code})`;
}

export interface WireStatus {
  code: status;
  message: string;
}

/** The status a thrown value answers with. */
export function toStatus(err: unknown): WireStatus {
  let q: QuarryError;
  try {
    q = asQuarryError(err);
  } catch {
    // A thrown value whose message getter itself throws: still an answer, never a crash.
    return { code: status.INTERNAL, message: 'unexpected error' };
  }
  const code = isGrpcCode(q.code) ? (q.code as number as status) : status.INTERNAL;
  // QuarryError's Code enum carries gRPC's canonical numbers (OK excluded: an error is never OK).
  return { code: code === status.OK ? status.UNKNOWN : code, message: q.message || codeName(code) };
}

function isGrpcCode(code: unknown): boolean {
  return typeof code === 'number' && Number.isInteger(code) && code >= 0 && code <= 16;
}

/** A grpc-js ServiceError for the callback of a unary handler. */
export function toServiceError(err: unknown, scrub: (s: string) => string = (s) => s): ServiceError {
  const { code, message } = toStatus(err);
  // Scrub before clipping so that a secret cut in half by the clip cannot survive as a prefix.
  const details = clipText(scrub(message), MAX_STATUS_MESSAGE);
  return Object.assign(new Error(`${code} ${codeName(code)}: ${details}`), {
    code,
    details,
    metadata: new Metadata(),
  });
}
