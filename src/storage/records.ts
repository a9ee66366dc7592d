import type { Bytes } from '../domain/bytes.js';
import type { AccessMode, AccessType, FsType, Provisioning } from '../domain/volume.js';

// The format number and the rules every record read must meet live in record-schema.ts.
import { RECORD_FORMAT } from './record-schema.js';
export { RECORD_FORMAT };

export type ObjectState = 'creating' | 'ready' | 'deleting';

/** Where the node service has the volume: kept in the pool so no state lives only in memory. */
export interface StagingRecord {
  nodeId: string;
  stagingPath: string;
  accessType: AccessType;
  /** Loop device at the time of staging; re-discovered from the backing file after a reboot. */
  device?: string;
}

export interface PublicationRecord {
  nodeId: string;
  targetPath: string;
  readOnly: boolean;
  accessType: AccessType;
  accessMode: AccessMode;
  mountFlags: string[];
}

/** Shared mode: the controller's grant of a volume to one node (issue 7). */
export interface AttachmentRecord {
  nodeId: string;
  token: string;
  accessMode: AccessMode;
  readOnly: boolean;
}

/**
 * A freeze of the volume's filesystem for a copy, recorded before it happens and removed after
 * the thaw; one left behind names what to thaw (design: Freeze).
 */
export interface FreezeRecord {
  nodeId: string;
  mountPath: string;
  /** Which kind of process froze it ('controller' or 'node'): its successor thaws at start. */
  holder: string;
  since: string;
  /** The thaw deadline: any process on the node thaws it once this has passed. */
  until: string;
}

export interface VolumeRecord {
  format: typeof RECORD_FORMAT;
  kind: 'volume';
  id: string;
  name: string;
  pool: string;
  state: ObjectState;
  sizeBytes: Bytes;
  fsType: FsType;
  provisioning: Provisioning;
  /** Access type the volume was created for ('mount' when capabilities mixed or absent). */
  accessTypes: AccessType[];
  source?: { kind: 'snapshot' | 'volume'; id: string };
  /** The compatibility fingerprint of the creating request, for idempotency checks. */
  requestKey: string;
  parameters: Record<string, string>;
  /** PVC/PV names added by external-provisioner --extra-create-metadata. */
  kubernetes?: { pvcName?: string; pvcNamespace?: string; pvName?: string };
  topologyNode?: string;
  createdAt: string;
  /**
   * Quarry's own formatting of the volume (design: Node staging): 'began' is written before mkfs
   * runs, 'done' once the new filesystem is mounted. Only a volume left at 'began' may be
   * formatted over what is on it. Absent on volumes never staged as a filesystem.
   */
  formatState?: 'began' | 'done';
  staging: StagingRecord[];
  publications: PublicationRecord[];
  attachments: AttachmentRecord[];
  /** Present only while a copy holds the filesystem frozen (optional, added for issue 15). */
  freeze?: FreezeRecord;
}

export interface SnapshotRecord {
  format: typeof RECORD_FORMAT;
  kind: 'snapshot';
  id: string;
  name: string;
  pool: string;
  state: ObjectState;
  sourceVolumeId: string;
  sizeBytes: Bytes;
  fsType: FsType;
  createdAt: string;
  parameters: Record<string, string>;
  /** Bytes the snapshot's image holds (st_blocks), measured when it became ready: what it can pin in the pool. */
  allocatedBytes?: number;
  /** VolumeSnapshot names added by external-snapshotter --extra-create-metadata. */
  kubernetes?: { snapshotName?: string; snapshotNamespace?: string; snapshotContentName?: string };
  /** Set on the members of a group snapshot: each member carries its group (design: Group snapshots). */
  group?: GroupMembership;
}

/** A group snapshot has no record of its own: it is the members that name it, all in one pool. */
export interface GroupMembership {
  id: string;
  name: string;
  /** How many members the group has: fewer found means the group is not whole. */
  size: number;
}

export type PoolRecord = VolumeRecord | SnapshotRecord;
