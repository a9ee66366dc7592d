/**
 * Size limits on every request, checked against the contract before a handler sees it
 * (design: Requests). CSI's general limits are 128 bytes for a string and 4 KiB for a
 * map<string, string>; Quarry overrides them only where CSI or the kubelet need more:
 * node IDs (up to 256 bytes, as CSI's NodeGetInfo allows) and paths (the kubelet's own staging
 * paths pass 128 bytes; PATH_MAX bounds them). An oversized field is INVALID_ARGUMENT, and the
 * message names the field and its size, never its content.
 */
import protobuf from 'protobufjs';
import { invalidArgument } from '../domain/errors.js';

/** The whole encoded request, enforced by grpc-js before decoding: far below gRPC's 4 MiB default. */
export const MAX_REQUEST_BYTES = 256 * 1024;
export const MAX_STRING_BYTES = 128;
export const MAX_NODE_ID_BYTES = 256;
export const MAX_PATH_BYTES = 4096;
export const MAX_MAP_BYTES = 4096;
const MAX_DEPTH = 32;

/** The limit of one string field, by its name. */
export function stringLimit(fieldName: string): number {
  if (fieldName.endsWith('_path')) return MAX_PATH_BYTES;
  if (fieldName === 'node_id') return MAX_NODE_ID_BYTES;
  return MAX_STRING_BYTES;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
const bytesOf = (s: string) => Buffer.byteLength(s, 'utf8');

/** Throws INVALID_ARGUMENT naming the first field of `msg` (a decoded `type`) over its limit. */
export function checkRequestBounds(type: protobuf.Type, msg: unknown): void {
  checkMessage(type, msg, '', 0);
}

function checkMessage(type: protobuf.Type, msg: unknown, prefix: string, depth: number): void {
  if (!isObj(msg)) return;
  if (depth > MAX_DEPTH) throw invalidArgument(`${prefix || type.name} is nested more than ${MAX_DEPTH} levels deep`);
  for (const field of type.fieldsArray) {
    const value = msg[field.name];
    if (value === undefined || value === null) continue;
    const where = `${prefix}${field.name}`;
    field.resolve();
    const sub = field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;
    if (field.map) {
      if (isObj(value)) checkMap(where, value, sub, depth);
    } else if (field.repeated) {
      if (!Array.isArray(value)) continue;
      for (const [i, v] of value.entries()) checkValue(`${where}[${i}]`, field.name, v, sub, depth);
    } else {
      checkValue(where, field.name, value, sub, depth);
    }
  }
}

function checkValue(where: string, name: string, value: unknown, sub: protobuf.Type | undefined, depth: number): void {
  if (sub) checkMessage(sub, value, `${where}.`, depth + 1);
  else if (typeof value === 'string') checkString(where, value, stringLimit(name));
}

function checkString(where: string, value: string, limit: number): void {
  // A UTF-8 string is at least as many bytes as UTF-16 units: skip the count when it cannot exceed.
  if (value.length * 3 <= limit) return;
  const n = bytesOf(value);
  if (n > limit) throw invalidArgument(`${where} is ${n} bytes; CSI allows at most ${limit} bytes`);
}

function checkMap(where: string, map: Obj, sub: protobuf.Type | undefined, depth: number): void {
  let total = 0;
  for (const [k, v] of Object.entries(map)) {
    total += bytesOf(k);
    if (typeof v === 'string') total += bytesOf(v);
    else if (sub) checkMessage(sub, v, `${where}[${JSON.stringify(k.slice(0, 32))}].`, depth + 1);
    if (total > MAX_MAP_BYTES) {
      throw invalidArgument(
        `${where} holds more than ${MAX_MAP_BYTES} bytes of keys and values; CSI allows at most ${MAX_MAP_BYTES} bytes in a map`,
      );
    }
  }
}
