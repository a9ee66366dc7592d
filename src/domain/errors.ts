/**
 * Errors are values that carry the gRPC status they map to. The numbers are
 * gRPC's canonical codes; storage and host code use them without importing gRPC.
 */
export enum Code {
  OK = 0,
  CANCELLED = 1,
  UNKNOWN = 2,
  INVALID_ARGUMENT = 3,
  DEADLINE_EXCEEDED = 4,
  NOT_FOUND = 5,
  ALREADY_EXISTS = 6,
  PERMISSION_DENIED = 7,
  RESOURCE_EXHAUSTED = 8,
  FAILED_PRECONDITION = 9,
  ABORTED = 10,
  OUT_OF_RANGE = 11,
  UNIMPLEMENTED = 12,
  INTERNAL = 13,
  UNAVAILABLE = 14,
}

export class QuarryError extends Error {
  constructor(
    readonly code: Code,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = `QuarryError(${Code[code]})`;
  }
}

export const invalidArgument = (msg: string) => new QuarryError(Code.INVALID_ARGUMENT, msg);
export const notFound = (msg: string) => new QuarryError(Code.NOT_FOUND, msg);
export const alreadyExists = (msg: string) => new QuarryError(Code.ALREADY_EXISTS, msg);
export const failedPrecondition = (msg: string) => new QuarryError(Code.FAILED_PRECONDITION, msg);
export const resourceExhausted = (msg: string) => new QuarryError(Code.RESOURCE_EXHAUSTED, msg);
export const outOfRange = (msg: string) => new QuarryError(Code.OUT_OF_RANGE, msg);
export const unimplemented = (msg: string) => new QuarryError(Code.UNIMPLEMENTED, msg);
export const internal = (msg: string, cause?: unknown) => new QuarryError(Code.INTERNAL, msg, { cause });
export const unavailable = (msg: string) => new QuarryError(Code.UNAVAILABLE, msg);
export const aborted = (msg: string) => new QuarryError(Code.ABORTED, msg);
export const deadlineExceeded = (msg: string) => new QuarryError(Code.DEADLINE_EXCEEDED, msg);

/** Anything thrown that is not a QuarryError becomes INTERNAL with its message. */
export function asQuarryError(err: unknown): QuarryError {
  if (err instanceof QuarryError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return internal(`unexpected error: ${message}`, err);
}
