import type { Bytes } from '../domain/bytes.js';
import type { FsType } from '../domain/volume.js';

/**
 * The host as the node services see it: loop devices, filesystems and mounts (design: Host port).
 * Services never import the host modules; serve.ts hands in the real adapter (src/host/node-host.ts),
 * unit tests an in-memory fake. The shapes below are what services read; the host modules' own
 * types carry more and stay assignable to these, which the compiler checks where the adapter is wired.
 */
export interface HostOps {
  loops: LoopOps;
  mounts: MountOps;
  filesystems: FilesystemOps;
}

/** One line of the kernel's mount table. */
export interface MountEntry {
  mountId: number;
  parentId: number;
  major: number;
  minor: number;
  root: string;
  mountPoint: string;
  options: string[];
  optionalFields: string[];
  fsType: string;
  source: string;
  superOptions: string[];
}

export interface LoopInfo {
  device: string;
  backingFileDeleted: boolean;
  readOnly: boolean;
  /**
   * Cleared by the kernel when its last opener closes. Quarry never attaches with it: it means a
   * detach was asked while something still held the device open, and the device is on its way out.
   */
  autoclear: boolean;
}

/** A file's filesystem device number and inode: what a loop device's backing file is, whatever its path. */
export interface FileIdentity {
  major: number;
  minor: number;
  inode: string;
}

export type DeviceProbe =
  | { kind: 'blank' }
  | { kind: 'filesystem'; fsType: string; uuid?: string; label?: string }
  | { kind: 'partition-table'; ptType: string }
  | { kind: 'other'; type: string; usage?: string };

export interface FsUsage {
  totalBytes: Bytes;
  availableBytes: Bytes;
  usedBytes: Bytes;
  totalInodes: number;
  freeInodes: number;
  usedInodes: number;
}

export interface LoopOps {
  /** Loop devices backed by the image (by device+inode, any mount namespace). */
  findByBackingFile(imagePath: string): Promise<LoopInfo[]>;
  attach(imagePath: string, opts: { directIo?: boolean; readOnly?: boolean }): Promise<{ device: string; directIoFallback?: string }>;
  detach(device: string): Promise<void>;
  refreshCapacity(device: string): Promise<void>;
  fileIdentity(path: string): Promise<FileIdentity | undefined>;
  isBackedBy(device: string, identity: FileIdentity): Promise<boolean>;
  backedByDeletedImage(device: string, imagePath: string): Promise<boolean>;
  /** The loop device a mount shows, if any. */
  ofMount(m: MountEntry): Promise<string | undefined>;
  /** The loop device a device node (a published block target) stands for, if any. */
  ofDeviceNode(path: string): Promise<string | undefined>;
}

export interface MountOps {
  read(): Promise<MountEntry[]>;
  /** Mounts at exactly `path`, bottom first; from `entries` when given, else read now. */
  at(path: string, entries?: MountEntry[]): Promise<MountEntry[]>;
  top(path: string, entries?: MountEntry[]): Promise<MountEntry | undefined>;
  ofDevice(device: string, entries?: MountEntry[]): Promise<MountEntry[]>;
  mount(req: { source: string; target: string; fsType?: string; options?: string[] }): Promise<MountEntry>;
  bind(source: string, target: string, opts: { readOnly?: boolean; options?: string[] }): Promise<MountEntry>;
  /** Unmounts the top mount at `target`, only if it is still `expected`. */
  unmountTop(target: string, expected: MountEntry): Promise<void>;
  /** Whether a mount failure was the kernel refusing an option, and which one if it says. */
  isBadOptionFailure(err: unknown): boolean;
  optionNamedIn(err: unknown): string | undefined;
}

export interface FilesystemOps {
  probe(device: string): Promise<DeviceProbe>;
  describeProbe(p: DeviceProbe): string;
  make(device: string, fsType: FsType, opts: { options?: string[]; overwriteUnfinished?: boolean; preallocated?: boolean }): Promise<void>;
  grow(fsType: FsType, device: string, mountPath: string): Promise<void>;
  ext4SizeBytes(device: string): Promise<Bytes>;
  checkExt4(device: string): Promise<void>;
  growExt4Offline(device: string): Promise<void>;
  deviceSizeBytes(device: string): Promise<Bytes>;
  stats(path: string): Promise<FsUsage>;
}
