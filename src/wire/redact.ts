/**
 * Secret redaction driven only by the contract: a field is secret when csi.proto marks it
 * `[(csi_secret) = true]`. There is no list of names here.
 *
 * Choice: a secret field that holds something is REPLACED by the string "[REDACTED]" (the whole
 * field, so neither keys nor values of a secrets map survive); an empty one is dropped. A reader
 * of the log can tell that secrets were supplied, never what they were.
 *
 * The walk follows the protobufjs reflection of the message: nested messages, repeated fields
 * and map values are visited. Keys of the decoded object that the type does not define (other
 * than proto-loader's virtual oneof fields) are dropped rather than copied blindly.
 */
import protobuf from 'protobufjs';

export const REDACTED = '[REDACTED]';
const SECRET_OPTION = '(csi_secret)';
const MAX_DEPTH = 32;

/** True when the field carries `[(csi_secret) = true]`. */
export function isSecretField(field: protobuf.Field): boolean {
  return field.options?.[SECRET_OPTION] === true;
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);

function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null || v === '') return true;
  if (Array.isArray(v)) return v.length === 0;
  if (Buffer.isBuffer(v)) return v.length === 0;
  if (isObj(v)) return Object.keys(v).length === 0;
  return false;
}

function messageTypeOf(field: protobuf.Field): protobuf.Type | undefined {
  field.resolve();
  return field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;
}

/** Whether a message of `type` can hold a secret: a secret field in it or in any message it nests. */
export function holdsSecrets(type: protobuf.Type, seen: Set<protobuf.Type> = new Set()): boolean {
  if (seen.has(type)) return false;
  seen.add(type);
  return type.fieldsArray.some((field) => {
    if (isSecretField(field)) return true;
    const sub = messageTypeOf(field);
    return sub !== undefined && holdsSecrets(sub, seen);
  });
}

/** A copy of `msg` (a decoded message of `type`) with every secret field replaced or dropped. */
export function redact(type: protobuf.Type, msg: unknown): Obj {
  return redactMessage(type, msg, 0);
}

function redactMessage(type: protobuf.Type, msg: unknown, depth: number): Obj {
  if (!isObj(msg)) return {};
  if (depth > MAX_DEPTH) return { truncated: true };
  const out: Obj = {};
  for (const [key, value] of Object.entries(msg)) {
    const field = type.fields[key];
    if (!field) {
      // proto-loader's `oneofs: true` adds `<oneof name>: '<member name>'`: harmless, keep it.
      const oneof = type.oneofs?.[key];
      if (oneof && typeof value === 'string' && oneof.oneof.includes(value)) out[key] = value;
      continue;
    }
    if (isSecretField(field)) {
      if (!isEmpty(value)) out[key] = REDACTED;
      continue;
    }
    const sub = messageTypeOf(field);
    if (!sub || value === null || value === undefined) {
      out[key] = value;
    } else if (field.map) {
      if (!isObj(value)) continue;
      const m: Obj = {};
      for (const [k, v] of Object.entries(value)) m[k] = redactMessage(sub, v, depth + 1);
      out[key] = m;
    } else if (field.repeated) {
      if (!Array.isArray(value)) continue;
      out[key] = value.map((v) => redactMessage(sub, v, depth + 1));
    } else {
      out[key] = redactMessage(sub, value, depth + 1);
    }
  }
  return out;
}

/**
 * Every string held in a secret field of `msg` (map values, repeated elements, plain
 * strings, bytes as UTF-8), so that error messages can be scrubbed of them too.
 */
export function secretValues(type: protobuf.Type, msg: unknown): string[] {
  const found = new Set<string>();
  collectSecrets(type, msg, found, 0);
  return [...found];
}

function collectStrings(v: unknown, found: Set<string>, depth: number): void {
  if (depth > MAX_DEPTH || v === null || v === undefined) return;
  if (typeof v === 'string') {
    if (v !== '') found.add(v);
  } else if (Buffer.isBuffer(v)) {
    if (v.length > 0) found.add(v.toString('utf8'));
  } else if (Array.isArray(v)) {
    for (const e of v) collectStrings(e, found, depth + 1);
  } else if (typeof v === 'object') {
    // Map keys are names ("password"), not secrets; only the values are collected.
    for (const e of Object.values(v)) collectStrings(e, found, depth + 1);
  }
}

function collectSecrets(type: protobuf.Type, msg: unknown, found: Set<string>, depth: number): void {
  if (!isObj(msg) || depth > MAX_DEPTH) return;
  for (const [key, value] of Object.entries(msg)) {
    const field = type.fields[key];
    if (!field || value === null || value === undefined) continue;
    if (isSecretField(field)) {
      collectStrings(value, found, depth + 1);
      continue;
    }
    const sub = messageTypeOf(field);
    if (!sub) continue;
    const children = field.map && isObj(value) ? Object.values(value) : field.repeated && Array.isArray(value) ? value : [value];
    for (const child of children) collectSecrets(sub, child, found, depth + 1);
  }
}

/**
 * A function that replaces every occurrence of the given secret strings with "[REDACTED]".
 * Longer secrets are replaced first so that one secret being part of another leaks nothing.
 * Secrets shorter than 3 characters are not searched for: they would mangle any text and
 * say nothing.
 */
export function scrubber(secrets: readonly string[]): (text: string) => string {
  const list = [...new Set(secrets)].filter((s) => s.length >= 3).sort((a, b) => b.length - a.length);
  if (list.length === 0) return (text) => text;
  return (text) => {
    let out = text;
    for (const s of list) out = out.split(s).join(REDACTED);
    return out;
  };
}
