import { createHash } from 'node:crypto';

/**
 * Quarry's own object IDs: a kind prefix and 20 lowercase base32 characters,
 * e.g. `vol-3k9x...`. They never hold `/`, `.` or whitespace, so a checked ID is
 * always safe as one path component.
 */
declare const brand: unique symbol;
export type VolumeId = string & { readonly [brand]: 'VolumeId' };
export type SnapshotId = string & { readonly [brand]: 'SnapshotId' };
export type NodeId = string & { readonly [brand]: 'NodeId' };
export type GroupSnapshotId = string & { readonly [brand]: 'GroupSnapshotId' };

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const BODY_LENGTH = 20;
const VOLUME_RE = /^vol-[a-z2-7]{20}$/;
const SNAPSHOT_RE = /^snap-[a-z2-7]{20}$/;
const GROUP_SNAPSHOT_RE = /^group-[a-z2-7]{20}$/;
/**
 * Node IDs come from the admin, usually the Kubernetes node name, which may be
 * a DNS subdomain (ip-10-0-0-1.ec2.internal). Letters, digits, "-", "_" and
 * ".", starting and ending with a letter or digit: never "/", never "." or
 * "..", so still safe as one path component.
 */
const NODE_RE = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$/;

/** Returns the ID if it has Quarry's syntax, otherwise undefined: a malformed ID names nothing. */
export function parseVolumeId(raw: string | undefined | null): VolumeId | undefined {
  return typeof raw === 'string' && VOLUME_RE.test(raw) ? (raw as VolumeId) : undefined;
}

export function parseSnapshotId(raw: string | undefined | null): SnapshotId | undefined {
  return typeof raw === 'string' && SNAPSHOT_RE.test(raw) ? (raw as SnapshotId) : undefined;
}

export function parseGroupSnapshotId(raw: string | undefined | null): GroupSnapshotId | undefined {
  return typeof raw === 'string' && GROUP_SNAPSHOT_RE.test(raw) ? (raw as GroupSnapshotId) : undefined;
}

export function parseNodeId(raw: string | undefined | null): NodeId | undefined {
  return typeof raw === 'string' && NODE_RE.test(raw) ? (raw as NodeId) : undefined;
}

/**
 * The ID for a CO-chosen name. Deriving it from the name makes CreateVolume
 * idempotent without a separate name index: a crash can never leave a name
 * pointing at one record and a retry creating another.
 */
function bodyForName(name: string): string {
  const digest = createHash('sha256').update(name, 'utf8').digest();
  let out = '';
  for (let i = 0; i < BODY_LENGTH; i++) out += ALPHABET[digest[i]! & 31];
  return out;
}

export const volumeIdForName = (name: string): VolumeId => `vol-${bodyForName(name)}` as VolumeId;
export const snapshotIdForName = (name: string): SnapshotId => `snap-${bodyForName(name)}` as SnapshotId;
export const groupSnapshotIdForName = (name: string): GroupSnapshotId => `group-${bodyForName(name)}` as GroupSnapshotId;
