// An in-memory host behind the services' HostOps port (design: Host port): a mount table with
// stacking and binds, loop devices keyed by their backing file's device+inode, a filesystem-present
// state per image, and failure injection at every step. It behaves like the host where the node
// handlers look; the real-host integration tests remain the proof that the host does the same.
import { mkdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import { bytes, MiB, type Bytes } from '../../src/domain/bytes.js';
import { volumeIdForName, type NodeId, type VolumeId } from '../../src/domain/ids.js';
import type { AccessType, FsType } from '../../src/domain/volume.js';
import { newRequestLocks, type DeployMode, type ServiceContext } from '../../src/services/context.js';
import type { DeviceProbe, FileIdentity, FsUsage, HostOps, LoopInfo, MountEntry } from '../../src/services/host-ops.js';
import { ImagePool } from '../../src/storage/image-pool.js';
import { PoolSet } from '../../src/storage/pool-set.js';
import { makeTempDir, type HasAfter } from './scratch.js';

const LOOP_MAJOR = 7;
const DEVTMPFS = { major: 0, minor: 5 };

interface FakeLoop {
  device: string;
  minor: number;
  imagePath: string;
  backing: FileIdentity;
  readOnly: boolean;
  deleted: boolean;
}

/** What is written on an image, whichever loop device shows it. */
interface FakeContent {
  fsType?: string;
  fsBytes?: number;
  /** Raw data a block user wrote: blkid sees something it cannot name. */
  raw?: boolean;
}

/** A mount refused for an option, as mount(8) reports it. */
export class FakeBadOption extends Error {
  constructor(readonly option: string | undefined) {
    super(`mount: wrong fs type, bad option, bad superblock${option ? ` (${option})` : ''}`);
  }
}

export type FakeStep =
  | 'loops.attach'
  | 'loops.detach'
  | 'loops.refreshCapacity'
  | 'mounts.mount'
  | 'mounts.bind'
  | 'mounts.unmountTop'
  | 'fs.probe'
  | 'fs.make'
  | 'fs.grow'
  | 'fs.checkExt4'
  | 'fs.growExt4Offline'
  | 'fs.stats';

export class FakeHost implements HostOps {
  /** Every step that changes or probes the host, in order: what a test asserts on. */
  readonly calls: string[] = [];
  readonly table: MountEntry[] = [];
  readonly devices = new Map<string, FakeLoop>();
  /** Keyed by the image's device+inode. */
  readonly content = new Map<string, FakeContent>();
  /** Options the fake kernel refuses for every filesystem. */
  readonly badOptions = new Set<string>();
  private readonly armed = new Map<string, Error>();
  private nextMountId = 100;
  private nextMinor = 0;

  /** The next call of `step` throws `err` (once). */
  failAt(step: FakeStep, err: Error = new Error(`injected failure at ${step}`)): void {
    this.armed.set(step, err);
  }

  /** A mount that is not the volume's, as another tool or user would leave it. */
  addForeignMount(target: string, fsType = 'tmpfs', source = 'tmpfs'): MountEntry {
    return this.push({ major: 0, minor: 40 + this.nextMountId, root: '/', mountPoint: resolve(target), fsType, source, options: ['rw'] });
  }

  /** The filesystem state of an image, by identity. */
  async contentOf(imagePath: string): Promise<FakeContent> {
    const key = idKey(await identityOf(imagePath));
    const c = this.content.get(key) ?? {};
    this.content.set(key, c);
    return c;
  }

  mountsAtPath(path: string): MountEntry[] {
    return this.table.filter((e) => e.mountPoint === resolve(path));
  }

  private step(name: string, detail: string): void {
    this.calls.push(`${name} ${detail}`);
    const err = this.armed.get(name);
    if (err) {
      this.armed.delete(name);
      throw err;
    }
  }

  private push(e: Omit<MountEntry, 'mountId' | 'parentId' | 'optionalFields' | 'superOptions'>): MountEntry {
    const entry: MountEntry = { ...e, mountId: this.nextMountId++, parentId: 1, optionalFields: [], superOptions: [] };
    this.table.push(entry);
    return entry;
  }

  private loopOf(device: string): FakeLoop | undefined {
    return this.devices.get(device);
  }

  readonly loops = {
    findByBackingFile: async (imagePath: string): Promise<(LoopInfo & { backing: FileIdentity })[]> => {
      const id = await identityOf(imagePath).catch(() => undefined);
      return [...this.devices.values()]
        .filter((l) => (id ? sameId(l.backing, id) : false) || (l.deleted && l.imagePath === imagePath))
        .map((l) => ({ device: l.device, backingFileDeleted: l.deleted, readOnly: l.readOnly, autoclear: false, backing: l.backing }));
    },
    attach: async (imagePath: string, opts: { directIo?: boolean; readOnly?: boolean }) => {
      this.step('loops.attach', `${imagePath}${opts.readOnly ? ' ro' : ''}`);
      const minor = this.nextMinor++;
      const device = `/dev/loop${minor}`;
      this.devices.set(device, {
        device,
        minor,
        imagePath,
        backing: await identityOf(imagePath),
        readOnly: Boolean(opts.readOnly),
        deleted: false,
      });
      return { device };
    },
    detach: async (device: string) => {
      this.step('loops.detach', device);
      if (this.table.some((e) => this.shows(e, device))) throw new Error(`${device} is busy`);
      this.devices.delete(device);
    },
    refreshCapacity: async (device: string) => this.step('loops.refreshCapacity', device),
    fileIdentity: async (path: string) => identityOf(path).catch(() => undefined),
    isBackedBy: async (device: string, identity: FileIdentity) => {
      const l = this.loopOf(device);
      return Boolean(l && sameId(l.backing, identity));
    },
    backedByDeletedImage: async (device: string, imagePath: string) => {
      const l = this.loopOf(device);
      return Boolean(l?.deleted && l.imagePath === imagePath);
    },
    ofMount: async (m: MountEntry) => [...this.devices.values()].find((l) => m.major === LOOP_MAJOR && m.minor === l.minor)?.device,
    ofDeviceNode: async (path: string) => {
      const top = this.mountsAtPath(path).at(-1);
      return top && top.fsType === 'devtmpfs' ? `/dev${top.root}` : undefined;
    },
  };

  /** Whether a mount shows a loop device: its filesystem, or a bind of its device node. */
  private shows(e: MountEntry, device: string): boolean {
    const l = this.loopOf(device);
    return (
      (l !== undefined && e.major === LOOP_MAJOR && e.minor === l.minor) ||
      e.source === device ||
      (e.fsType === 'devtmpfs' && `/dev${e.root}` === device)
    );
  }

  readonly mounts = {
    read: async () => [...this.table],
    at: async (path: string, entries?: MountEntry[]) => (entries ?? this.table).filter((e) => e.mountPoint === resolve(path)),
    top: async (path: string, entries?: MountEntry[]) => (entries ?? this.table).filter((e) => e.mountPoint === resolve(path)).at(-1),
    ofDevice: async (device: string, entries?: MountEntry[]) => (entries ?? this.table).filter((e) => this.shows(e, device)),
    mount: async (req: { source: string; target: string; fsType?: string; options?: string[] }) => {
      this.step('mounts.mount', `${req.source} ${req.target} ${(req.options ?? []).join(',')}`);
      const bad = (req.options ?? []).filter((o) => this.badOptions.has(o));
      if (bad.length > 0) throw new FakeBadOption(undefined);
      const l = this.loopOf(req.source);
      if (!l) throw new Error(`mount: ${req.source}: no such device`);
      const c = await this.contentOf(l.imagePath);
      if (c.fsType !== req.fsType) throw new Error(`mount: ${req.source}: wrong fs type`);
      const ro = l.readOnly || (req.options ?? []).includes('ro');
      return this.push({
        major: LOOP_MAJOR,
        minor: l.minor,
        root: '/',
        mountPoint: resolve(req.target),
        fsType: c.fsType!,
        source: req.source,
        options: [ro ? 'ro' : 'rw'],
      });
    },
    bind: async (source: string, target: string, opts: { readOnly?: boolean; options?: string[] }) => {
      this.step('mounts.bind', `${source} ${target}${opts.readOnly ? ' ro' : ''}`);
      const mode = opts.readOnly ? 'ro' : 'rw';
      const l = this.loopOf(source);
      if (l)
        return this.push({
          ...DEVTMPFS,
          root: `/loop${l.minor}`,
          mountPoint: resolve(target),
          fsType: 'devtmpfs',
          source: 'udev',
          options: [mode, ...(opts.options ?? [])],
        });
      const under = this.mountsAtPath(source).at(-1);
      if (!under) throw new Error(`mount --bind: ${source} is not a mount in the fake`);
      return this.push({
        major: under.major,
        minor: under.minor,
        root: under.root,
        mountPoint: resolve(target),
        fsType: under.fsType,
        source: under.source,
        options: [mode, ...(opts.options ?? [])],
      });
    },
    unmountTop: async (target: string, expected: MountEntry) => {
      this.step('mounts.unmountTop', target);
      const top = this.mountsAtPath(target).at(-1);
      if (!top || top.mountId !== expected.mountId) throw new Error(`umount ${target}: the top mount is no longer the expected one`);
      this.table.splice(this.table.indexOf(top), 1);
    },
    isBadOptionFailure: (err: unknown) => err instanceof FakeBadOption,
    optionNamedIn: (err: unknown) => (err instanceof FakeBadOption ? err.option : undefined),
  };

  readonly filesystems = {
    probe: async (device: string): Promise<DeviceProbe> => {
      this.step('fs.probe', device);
      const c = await this.contentOf(this.requireLoop(device).imagePath);
      if (c.fsType) return { kind: 'filesystem', fsType: c.fsType };
      return c.raw ? { kind: 'other', type: 'raw data' } : { kind: 'blank' };
    },
    describeProbe: (p: DeviceProbe) => (p.kind === 'filesystem' ? `a ${p.fsType} filesystem` : p.kind),
    make: async (device: string, fsType: FsType, opts: { options?: string[]; overwriteUnfinished?: boolean }) => {
      this.step('fs.make', `${device} ${fsType}${opts.overwriteUnfinished ? ' overwrite' : ''}`);
      const l = this.requireLoop(device);
      const c = await this.contentOf(l.imagePath);
      if ((c.fsType || c.raw) && !opts.overwriteUnfinished) throw new Error(`mkfs: ${device} holds a filesystem`);
      Object.assign(c, { fsType, fsBytes: (await stat(l.imagePath)).size, raw: false });
    },
    grow: async (fsType: FsType, device: string, mountPath: string) => {
      this.step('fs.grow', `${fsType} ${device} ${mountPath}`);
      const l = this.requireLoop(device);
      (await this.contentOf(l.imagePath)).fsBytes = (await stat(l.imagePath)).size;
    },
    ext4SizeBytes: async (device: string): Promise<Bytes> => bytes((await this.contentOf(this.requireLoop(device).imagePath)).fsBytes ?? 0),
    checkExt4: async (device: string) => this.step('fs.checkExt4', device),
    growExt4Offline: async (device: string) => {
      this.step('fs.growExt4Offline', device);
      const l = this.requireLoop(device);
      (await this.contentOf(l.imagePath)).fsBytes = (await stat(l.imagePath)).size;
    },
    deviceSizeBytes: async (device: string): Promise<Bytes> => bytes((await stat(this.requireLoop(device).imagePath)).size),
    stats: async (path: string): Promise<FsUsage> => {
      this.step('fs.stats', path);
      const top = this.mountsAtPath(path).at(-1);
      const l = top && [...this.devices.values()].find((d) => top.major === LOOP_MAJOR && d.minor === top.minor);
      const total = l ? ((await this.contentOf(l.imagePath)).fsBytes ?? 0) : 0;
      return {
        totalBytes: bytes(total),
        availableBytes: bytes(total - 4096),
        usedBytes: bytes(4096),
        totalInodes: 1000,
        freeInodes: 990,
        usedInodes: 10,
      };
    },
  };

  private requireLoop(device: string): FakeLoop {
    const l = this.loopOf(device);
    if (!l) throw new Error(`${device}: no such loop device`);
    return l;
  }
}

async function identityOf(path: string): Promise<FileIdentity> {
  const st = await stat(path, { bigint: true });
  return { major: Number(st.dev >> 8n), minor: Number(st.dev & 0xffn), inode: st.ino.toString() };
}

const idKey = (i: FileIdentity) => `${i.major}:${i.minor}:${i.inode}`;
const sameId = (a: FileIdentity, b: FileIdentity) => idKey(a) === idKey(b);

// ---- A node service context on the fake host, with a real pool in a temp directory (no root needed).

export const FAKE_NODE = 'node-a' as NodeId;

export interface FakeNode {
  ctx: ServiceContext;
  host: FakeHost;
  pool: ImagePool;
  kubeletDir: string;
  /** A fresh path below the kubelet directory (not created). */
  path(name: string): string;
  /** A ready volume in the pool; its image is real and sparse. */
  volume(name: string, opts?: { accessTypes?: AccessType[]; fsType?: FsType; sizeBytes?: number }): Promise<VolumeId>;
}

export async function fakeNode(t: HasAfter, mode: DeployMode = 'local'): Promise<FakeNode> {
  const kubeletDir = await makeTempDir(t, 'kubelet');
  const poolDir = await makeTempDir(t, 'pool');
  const pool = await ImagePool.open('p', poolDir, { overprovisioning: 10 });
  const host = new FakeHost();
  const ctx: ServiceContext = {
    driverName: 'quarry.csi.dev',
    version: 'test',
    mode,
    nodeId: FAKE_NODE,
    pools: new PoolSet(new Map([['p', pool]])),
    logger: pino({ level: 'silent' }),
    maxVolumesPerNode: 10,
    locks: newRequestLocks(),
    kubeletDir,
    host,
  };
  return {
    ctx,
    host,
    pool,
    kubeletDir,
    path: (name) => join(kubeletDir, 'plugins', name),
    volume: async (name, opts = {}) => {
      const id = volumeIdForName(name);
      await pool.createVolume({
        id,
        name,
        sizeBytes: bytes(opts.sizeBytes ?? 64 * MiB),
        fsType: opts.fsType ?? 'ext4',
        provisioning: 'thin',
        accessTypes: opts.accessTypes ?? ['mount'],
        requestKey: '{}',
        parameters: {},
      });
      await mkdir(join(kubeletDir, 'plugins'), { recursive: true });
      return id;
    },
  };
}
