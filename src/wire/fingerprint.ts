/**
 * A digest of one RPC and its arguments: two requests with the same fingerprint are "the same
 * idempotent request" (design: Pool lock and concurrency). Map keys are sorted first, since a Go
 * client sends a map's entries in no fixed order. Only the digest is kept, never the request.
 */
import { createHash } from 'node:crypto';

function canonical(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return { $bytes: v.toString('base64') };
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = canonical((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

export function requestFingerprint(method: string, request: unknown): string {
  return createHash('sha256')
    .update(method)
    .update('\0')
    .update(JSON.stringify(canonical(request)) ?? '')
    .digest('base64url');
}
