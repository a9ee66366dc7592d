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
  staging: StagingRecord[];
  publications: PublicationRecord[];
  attachments: AttachmentRecord[];
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
}

export type PoolRecord = VolumeRecord | SnapshotRecord;
