export type AccessType = 'mount' | 'block';
export type FsType = 'ext4' | 'xfs' | 'btrfs';
export const FS_TYPES: readonly FsType[] = ['ext4', 'xfs', 'btrfs'];
export type Provisioning = 'thin' | 'thick';

/** CSI access modes, by their proto enum names. */
export const ACCESS_MODES = [
  'SINGLE_NODE_WRITER',
  'SINGLE_NODE_READER_ONLY',
  'SINGLE_NODE_SINGLE_WRITER',
  'SINGLE_NODE_MULTI_WRITER',
  'MULTI_NODE_READER_ONLY',
  'MULTI_NODE_SINGLE_WRITER',
  'MULTI_NODE_MULTI_WRITER',
] as const;
export type AccessMode = (typeof ACCESS_MODES)[number];

/** One requested capability, decoded from the wire and checked. */
export interface Capability {
  accessType: AccessType;
  accessMode: AccessMode;
  /** Only for mount: the requested filesystem ('' means the volume's own). */
  fsType?: string;
  mountFlags?: string[];
}

export const isMultiNodeWriter = (m: AccessMode) => m === 'MULTI_NODE_SINGLE_WRITER' || m === 'MULTI_NODE_MULTI_WRITER';
export const isReadOnlyMode = (m: AccessMode) => m === 'SINGLE_NODE_READER_ONLY' || m === 'MULTI_NODE_READER_ONLY';
