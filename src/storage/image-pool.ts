import { statfsSync, statSync } from 'node:fs';
import { access, constants, open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Bytes } from '../domain/bytes.js';
import { failedPrecondition, notFound, QuarryError, Code } from '../domain/errors.js';
import type { NodeId, VolumeId } from '../domain/ids.js';
import { probeReflink, reflinkCopy, sparseCopy } from '../host/copy.js';
import { attachVolume, detachVolume, type AttachRequest } from './attachments.js';
import { canPromise, computeCapacity, type Capacity, type CapacityInput } from './capacity.js';
import { faultPoint } from './fault-points.js';
import { removeFile, type AtomicWriteOptions } from './durable-file.js';
import { createImage, growImage, isNoSpace, noSpace, publishImage } from './image-file.js';
import { removeObject } from './object-removal.js';
import { fileIn, openPoolDir, poolSubdirs, POOL_MARKER } from './pool-dir.js';
import { CapacityLedger } from './capacity-ledger.js';
import { initGeneration, PoolLock } from './pool-lock.js';
import { NodeRegistry, type NodeRegistration } from './node-registry.js';
import { measurePool } from './pool-usage.js';
import { ListedImageSizes } from './listed-image-sizes.js';
import { RecordStore } from './record-store.js';
import type { PreparedRecord, RecordHooks } from './record-store.js';
import type { AttachmentRecord, SnapshotRecord, VolumeRecord } from './records.js';

export interface PoolOptions {
  overprovisioning: number;
  /** Above 1.0: spare space (free − margin) under this fraction of the filesystem is low space (design: Capacity). */
  lowSpaceFraction?: number;
  lockWaitMs?: number;
  onCorruptRecord?: (path: string, err: Error) => void;
}

/**
 * Fills a new volume's partial image (a clone or a restore), anew: what an earlier attempt left at
 * that path is removed or overwritten, never reused. It may take the two steps that follow a good
 * copy as its own: `alongsideSync` (the 'ready' record written to a temporary file) beside the
 * copy's fsync, and `publish` (the image's final size and name) after it. A step it does not take
 * is taken once it returns.
 */
export type FillImage = (partialPath: string, next: FillSteps) => Promise<void>;

export interface FillSteps {
  alongsideSync: () => Promise<void>;
  publish: () => Promise<void>;
}

/**
 * What a copy adds to the reservation's hold of the pool lock: it calls `check` (the capacity
 * check) and `commit` (the 'creating' record's rename) and may write its own records beside them
 * (a clone's freeze marker, design: Freeze).
 */
export type ReservationHold = <T>(check: () => Promise<void>, commit: () => Promise<T>) => Promise<T>;

export type NewVolume = Omit<VolumeRecord, 'format' | 'kind' | 'state' | 'pool' | 'createdAt' | 'staging' | 'publications' | 'attachments'>;

/**
 * A directory of sparse images with one record per object (design: Records). Every
 * record change happens under the pool lock; long work (allocating, copying)
 * happens outside it, bracketed by records that make a retry finish the job.
 */
export class ImagePool {
  readonly volumes: RecordStore<VolumeRecord>;
  readonly snapshots: RecordStore<SnapshotRecord>;
  private readonly lock: PoolLock;
  private readonly nodes: NodeRegistry;
  /** What ensureRoom checks a new promise against: kept in memory, rebuilt from records and images (design: Capacity). */
  private readonly ledger: CapacityLedger;

  private constructor(
    readonly name: string,
    readonly root: string,
    readonly reflink: boolean,
    private readonly opts: PoolOptions,
  ) {
    const dirs = poolSubdirs(root);
    this.lock = new PoolLock(dirs.lockFile, opts.lockWaitMs);
    this.ledger = new CapacityLedger({
      root,
      volumesDir: dirs.volumes,
      reflink,
      overprovisioning: opts.overprovisioning,
      listVolumes: () => this.listVolumes(),
      listSnapshots: () => this.listSnapshots(),
      onCorrupt: (kind, id, why) =>
        this.opts.onCorruptRecord?.((kind === 'volume' ? this.volumes : this.snapshots).pathOf(id), new Error(why)),
    });
    this.lock.onForeignChange = () => this.ledger.invalidate();
    const common = { beforeChange: () => this.lock.bumpGeneration(), failed: () => this.ledger.invalidate() };
    const volumeHooks: RecordHooks<VolumeRecord> = {
      ...common,
      written: (r) => this.ledger.noteVolume(r),
      removed: (id) => this.ledger.forgetVolume(id),
    };
    const snapshotHooks: RecordHooks<SnapshotRecord> = {
      ...common,
      written: (r) => this.ledger.noteSnapshot(r),
      removed: (id) => this.ledger.forgetSnapshot(id),
    };
    this.volumes = new RecordStore<VolumeRecord>(dirs.volumes, 'volume', volumeHooks);
    this.snapshots = new RecordStore<SnapshotRecord>(dirs.snapshots, 'snapshot', snapshotHooks);
    this.nodes = new NodeRegistry(root);
  }

  static async open(name: string, root: string, opts: PoolOptions): Promise<ImagePool> {
    await openPoolDir(root);
    // Made now so that taking the lock never needs a new inode on a pool that has filled up.
    await (await open(poolSubdirs(root).lockFile, 'a', 0o600)).close();
    // Best effort: without its generation word the lock file only makes every process re-read records.
    await initGeneration(poolSubdirs(root).lockFile).catch(() => undefined);
    const reflink = await probeReflink(poolSubdirs(root).volumes);
    return new ImagePool(name, root, reflink, opts);
  }

  volumeImagePath(id: string): string {
    return fileIn(this.volumes.dir, `${id}.img`);
  }

  snapshotImagePath(id: string): string {
    return fileIn(this.snapshots.dir, `${id}.img`);
  }

  /**
   * Copy-on-write where the pool's filesystem allows it; otherwise a copy that keeps holes as holes.
   * The copy is fsynced: callers mark the object 'ready' next, and cp(1) itself never syncs.
   * `sync: false` leaves that fsync to the caller (a snapshot does it after the thaw, not frozen).
   */
  async copyImage(from: string, to: string, opts: { sync?: boolean } = {}): Promise<void> {
    // A reflink copy shares the source's extents: its owned bytes shrink, so the ledger measures it again after.
    if (this.reflink) await this.ledger.whileChanging(from, () => reflinkCopy(from, to), { wholeFileClone: true });
    else await sparseCopy(from, to);
    if (opts.sync === false) return;
    const fd = await open(to, 'r+');
    try {
      await fd.sync();
    } finally {
      await fd.close();
    }
  }

  /** Runs work that may punch holes in a volume's image (dig-holes): the ledger counts it as owning nothing meanwhile. */
  whileImageChanges<T>(id: VolumeId, work: () => Promise<T>): Promise<T> {
    return this.ledger.whileChanging(this.volumeImagePath(id), work);
  }

  private partialImagePath(id: string): string {
    return fileIn(this.volumes.dir, `${id}.img.partial`);
  }

  snapshotPartialImagePath(id: string): string {
    return fileIn(this.snapshots.dir, `${id}.img.partial`);
  }

  /** Lets go of the pool's lifetime lock, so its filesystem can be unmounted (benches, tests). */
  async close(): Promise<void> {
    await this.lock.close();
  }

  /** Runs fn with the pool's cross-process lock held. Keep fn short: records only. */
  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await this.lock.run(fn);
    } catch (err) {
      throw this.readOnlyError(err) ?? err;
    }
  }

  /** Record work done before or after a hold: a read-only pool is reported as withLock reports it. */
  private async outsideLock<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.readOnlyError(err) ?? err;
    }
  }

  /** A pool whose filesystem went read-only says so and how to fix it, instead of INTERNAL ... EROFS. */
  readOnlyError(err: unknown): QuarryError | undefined {
    if ((err as NodeJS.ErrnoException)?.code !== 'EROFS') return undefined;
    return new QuarryError(Code.FAILED_PRECONDITION, this.readOnlyMessage(), { cause: err });
  }

  private readOnlyMessage(): string {
    return (
      `pool ${this.name} at ${this.root} is not usable: it is read-only (its filesystem is mounted read-only, ` +
      `or was remounted read-only after an error); ` +
      'check the kernel log, then remount it read-write'
    );
  }

  /** Ready when the marker is present and the pool is writable; otherwise says why. */
  async probe(): Promise<string | undefined> {
    try {
      await access(join(this.root, POOL_MARKER), constants.R_OK);
      await access(this.volumes.dir, constants.W_OK);
      return undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EROFS') return this.readOnlyMessage();
      return `pool ${this.name} at ${this.root} is not usable: ${(err as Error).message}`;
    }
  }

  async listVolumes(): Promise<VolumeRecord[]> {
    return this.volumes.all((id, err) => this.opts.onCorruptRecord?.(this.volumes.pathOf(id), err));
  }

  /**
   * Every volume record, for ListVolumes and the freeze sweep: served from the last listing while
   * the pool generation shows no change since, else read (unchanged records from the store's cache)
   * (design: Records). Not under the pool lock, so a listing never waits behind a burst of changes.
   */
  async listVolumesForListing(): Promise<VolumeRecord[]> {
    // No generation to be had (the lock file unreadable, a read-only pool): the listing reads, as it always could.
    const generation = await this.lock.peekGeneration().catch(() => undefined);
    this.listedAt = generation;
    return this.volumes.allAt(generation, (id, err) => this.opts.onCorruptRecord?.(this.volumes.pathOf(id), err));
  }

  /** The pool generation the last listVolumesForListing read at. */
  private listedAt?: bigint;
  private readonly listedSizes = new ListedImageSizes();

  /** volumeImageSizesNow for the volumes of the last listing: kept while its generation stands (ListedImageSizes). */
  volumeImageSizesListed(ids: readonly string[]): Array<Bytes | undefined> {
    return this.listedSizes.sizes(this.listedAt, ids, (id) => this.volumeImagePath(id));
  }

  /**
   * The sizes of volumes' images, undefined for a missing one, from a synchronous stat each: a
   * stat of a cached inode takes microseconds, its libuv request and promise several times that.
   */
  volumeImageSizesNow(ids: readonly string[]): Array<Bytes | undefined> {
    return ids.map((id) => statSync(this.volumeImagePath(id), { throwIfNoEntry: false })?.size as Bytes | undefined);
  }

  async listSnapshots(): Promise<SnapshotRecord[]> {
    return this.snapshots.all((id, err) => this.opts.onCorruptRecord?.(this.snapshots.pathOf(id), err));
  }

  async capacity(): Promise<Capacity & CapacityInput> {
    const input = await this.capacityInput();
    return { ...input, ...computeCapacity(input) };
  }

  /**
   * Why thin volumes of this pool may soon fail writes, or undefined when they cannot: at 1.0,
   * the pool owes more than it has free (foreign files took space); above 1.0, its spare space
   * is under the low-space threshold. Reported as the volumes' condition (design: Capacity).
   */
  async spaceCondition(measured?: Capacity & CapacityInput): Promise<string | undefined> {
    if (measured) return this.spaceConditionOf(measured);
    // kubelet asks for every volume's stats each minute; one measurement serves them all for a while.
    const now = Date.now();
    if (!this.recentCondition || now - this.recentCondition.at > SPACE_CONDITION_TTL_MS) {
      this.recentCondition = { at: now, value: this.capacity().then((c) => this.spaceConditionOf(c)) };
      this.recentCondition.value.catch(() => (this.recentCondition = undefined));
    }
    return this.recentCondition.value;
  }

  private recentCondition?: { at: number; value: Promise<string | undefined> };

  private spaceConditionOf(c: Capacity & CapacityInput): string | undefined {
    const spare = Math.max(0, c.freeBytes - c.marginBytes);
    // Above 1.0 owing more than is free is the admin's choice; at or below it, it means something else filled the pool.
    if (c.overprovisioning <= 1 && c.shortfallBytes > 0) {
      return (
        `pool ${this.name} cannot give every volume its full size: ` +
        `its volumes may still write ${c.owedBytes} bytes but only ${spare} are free; writes will fail once it fills. ` +
        'Free space in the pool or move volumes out'
      );
    }
    const threshold = lowSpaceBytes(c.filesystemBytes, this.opts.lowSpaceFraction);
    if (c.overprovisioning > 1 && c.owedBytes > 0 && spare < threshold) {
      return (
        `pool ${this.name} is low on space: ${spare} bytes free above its safety margin, ` +
        `under the low-space threshold of ${threshold}; it is overcommitted, so thin volumes will fail writes if it fills. ` +
        'Free space in the pool or grow it'
      );
    }
    return undefined;
  }

  /** The largest volume the pool could ever hold: its filesystem's size × the ratio (one statfs). */
  async maximumVolumeBytes(): Promise<Bytes> {
    // Synchronous: a statfs takes microseconds, a libuv request and promise per create several times that.
    const fs = statfsSync(this.root);
    return computeCapacity({
      filesystemBytes: fs.blocks * fs.bsize,
      freeBytes: 0,
      ownedBytes: 0,
      promisedBytes: 0,
      marginBytes: 0,
      overprovisioning: this.opts.overprovisioning,
    }).maximumVolumeBytes;
  }

  /** What the in-memory ledger counts now, read under the pool lock (tests compare it with a full recount). */
  async ledgerCapacity(): Promise<Capacity & CapacityInput> {
    const input = await this.withLock(async () => {
      const counted = await this.ledger.input();
      // The running totals must be what a pass over every line counts: checked at every test step.
      const pass = this.ledger.countedByFullPass();
      if (pass.owned !== counted.ownedBytes || pass.promised + this.ledger.snapshotReservations() !== counted.promisedBytes) {
        throw new Error(
          `capacity ledger: running totals (owned ${counted.ownedBytes}, promised ${counted.promisedBytes}) ` +
            `differ from a pass over every line (owned ${pass.owned}, promised ${pass.promised} + snapshot reservations)`,
        );
      }
      return counted;
    });
    return { ...input, ...computeCapacity(input) };
  }

  /** Measured afresh from the records and the images on every call (design: Capacity). */
  private async capacityInput(excludeId?: string): Promise<CapacityInput> {
    const [volumes, snapshots] = await Promise.all([this.listVolumes(), this.listSnapshots()]);
    return measurePool(
      {
        root: this.root,
        volumesDir: this.volumes.dir,
        reflink: this.reflink,
        overprovisioning: this.opts.overprovisioning,
        volumes,
        snapshots,
        onCorrupt: (kind, id, why) =>
          this.opts.onCorruptRecord?.((kind === 'volume' ? this.volumes : this.snapshots).pathOf(id), new Error(why)),
      },
      excludeId,
    );
  }

  /**
   * Reserves the volume in a 'creating' record, then makes the image. A retry
   * after a crash at any point finds the 'creating' record and redoes the image.
   * `fill` copies the image of a clone or a restore; `hold` is what such a copy adds to the
   * reservation's hold of the pool lock (a clone's freeze marker; storage/clones.ts).
   */
  async createVolume(spec: NewVolume, fill?: FillImage, hold?: ReservationHold): Promise<VolumeRecord> {
    // The record's content is written and fsynced before the pool lock is taken; under it, only the
    // check of the promise and a rename (design: Pool lock and concurrency).
    // A ledger that knows the pool's records and holds neither record nor image for this ID spares a
    // read of a missing file (the usual create); what another process did meanwhile is checked under the lock.
    const seen = this.ledger.knowsNothingOf(spec.id) ? undefined : await this.volumes.read(spec.id);
    if (seen && seen.state !== 'creating') return seen;
    const draft = (createdAt: string): VolumeRecord => ({
      ...spec,
      format: 1,
      kind: 'volume',
      state: 'creating',
      pool: this.name,
      createdAt,
      staging: [],
      publications: [],
      attachments: [],
    });
    const preparing = this.outsideLock(() => this.volumes.prepare(draft(seen?.createdAt ?? new Date().toISOString())));
    preparing.catch(() => undefined); // awaited below, and by the discard whatever happens
    let record: VolumeRecord;
    try {
      // A copy's hold writes its own records beside this one's (design: Freeze); a plain create
      // takes the lock with the record already written.
      if (!hold) await preparing;
      record = await this.withLock(async () => {
        // What the ledger holds is what is on disk while no other process changed records (design: Capacity).
        const known = this.ledger.knownRecord(spec.id);
        const existing = known ? known.record : await this.volumes.read(spec.id);
        if (existing && existing.state !== 'creating') return existing;
        const check = () => this.ensureRoom(spec.id, spec.sizeBytes, spec.provisioning === 'thick');
        // Made durable by the fsync of the volumes directory after the 'ready' record (design: Records).
        const commit = async (): Promise<VolumeRecord> => {
          const prepared = await preparing;
          if (existing?.createdAt === seen?.createdAt) {
            await this.volumes.commit(prepared, { syncDir: false });
            return prepared.record;
          }
          const r = draft(existing?.createdAt ?? prepared.record.createdAt);
          await this.volumes.write(r, { syncDir: false });
          return r;
        };
        if (hold) return hold(check, commit);
        await check();
        return commit();
      });
    } finally {
      const prepared = await preparing.catch(() => undefined);
      if (prepared) await this.volumes.discard(prepared);
    }
    if (record.state !== 'creating') return record;
    faultPoint('create-volume:after-record');
    let ready: PreparedRecord<VolumeRecord> | undefined;
    try {
      // A copy writes the 'ready' record's content beside its own fsync (design: Freeze).
      await this.makeImage(record, fill, async () => {
        ready = await this.outsideLock(() => this.volumes.prepare({ ...record, state: 'ready' }));
      });
      faultPoint('create-volume:after-image');
      ready ??= await this.outsideLock(() => this.volumes.prepare({ ...record, state: 'ready' }));
      const prepared = ready;
      await this.withLock(() => this.volumes.commit(prepared, { syncDir: false }));
      // Outside the lock, so that concurrent creates share the journal commit; before the answer.
      await this.outsideLock(() => this.volumes.sync());
      return prepared.record;
    } finally {
      if (ready) await this.volumes.discard(ready);
    }
  }

  /** Refuses (RESOURCE_EXHAUSTED) a promise of `size` more bytes; `thick` also needs them free now. Call under withLock. */
  async ensureRoom(id: string, size: Bytes, thick: boolean): Promise<void> {
    // The ledger's fast count never exceeds a recount, so its yes is safe; a no is checked by the recount.
    if (canPromise(size, thick, await this.ledger.input(id))) return;
    const input = await this.ledger.input(id, true);
    if (!canPromise(size, thick, input)) {
      const { availableBytes } = computeCapacity(input);
      throw new QuarryError(
        Code.RESOURCE_EXHAUSTED,
        `pool ${this.name} has no space to promise ${size} bytes: ${availableBytes} bytes can still be promised` +
          (thick ? ` and ${Math.max(0, input.freeBytes - input.marginBytes)} bytes are free above the pool's safety margin` : '') +
          '; free space in the pool, delete volumes or snapshots, or use another pool',
      );
    }
  }

  /** Makes the image; a copy (`fill`) runs `alongsideSync` beside its fsync and publishes the image itself once synced. */
  private async makeImage(record: VolumeRecord, fill: FillImage | undefined, alongsideSync: () => Promise<void>): Promise<void> {
    const partial = this.partialImagePath(record.id);
    const publish = () =>
      publishImage(partial, this.volumeImagePath(record.id), record.sizeBytes, record.provisioning === 'thick', NO_DIR_SYNC);
    try {
      if (fill) {
        let published = false;
        await fill(partial, {
          alongsideSync,
          publish: async () => {
            await publish();
            published = true;
          },
        });
        if (!published) await publish();
      } else {
        await createImage(this.volumeImagePath(record.id), partial, record.sizeBytes, record.provisioning === 'thick', NO_DIR_SYNC);
      }
    } catch (err) {
      await removeFile(partial).catch(() => undefined);
      const readOnly = this.readOnlyError(err);
      if (readOnly) throw readOnly;
      if (isNoSpace(err)) {
        await this.withLock(() => this.volumes.remove(record.id));
        throw noSpace(`volume ${record.name}`);
      }
      throw err;
    }
  }

  async getVolume(id: VolumeId): Promise<VolumeRecord | undefined> {
    return this.volumes.read(id);
  }

  async requireVolume(id: VolumeId): Promise<VolumeRecord> {
    const v = await this.volumes.read(id);
    if (v?.state !== 'ready') throw notFound(`volume ${id} does not exist`);
    return v;
  }

  /**
   * Read-modify-write of one volume record under the pool lock. `syncDir: false` only for a change
   * that need not outlive the host, such as a freeze marker (design: Freeze).
   */
  async updateVolume(
    id: VolumeId,
    change: (v: VolumeRecord) => VolumeRecord | Promise<VolumeRecord>,
    opts?: AtomicWriteOptions,
  ): Promise<VolumeRecord> {
    return this.withLock(async () => {
      const v = await this.volumes.read(id);
      if (v?.state !== 'ready') throw notFound(`volume ${id} does not exist`);
      const next = await change(v);
      if (next !== v) await this.volumes.write(next, opts);
      return next;
    });
  }

  /**
   * Marks the record 'deleting', removes the image, then the record. Refused
   * while a node has the volume staged or published. Only this volume's own
   * files are ever removed.
   */
  async deleteVolume(id: VolumeId): Promise<void> {
    await removeObject(this, this.volumes, id, [this.partialImagePath(id), this.volumeImagePath(id)], {
      faultPrefix: 'delete-volume',
      refuse: (v) => {
        if (v.staging.length > 0 || v.publications.length > 0 || v.attachments.length > 0) {
          throw failedPrecondition(`volume ${id} is still in use (${describeUse(v)}); unpublish and unstage it before deleting`);
        }
      },
    });
  }

  /**
   * Grows a volume: the record first (it reserves the capacity), then the
   * image. A crash in between leaves a record a retry completes. Never shrinks.
   */
  async expandVolume(id: VolumeId, size: Bytes): Promise<VolumeRecord> {
    const record = await this.withLock(async () => {
      const v = await this.requireVolume(id);
      if (size <= v.sizeBytes) return v;
      await this.ensureRoom(id, size, v.provisioning === 'thick');
      const grown = { ...v, sizeBytes: size };
      await this.volumes.write(grown);
      return grown;
    });
    faultPoint('expand-volume:after-record');
    try {
      await growImage(this.volumeImagePath(id), record.sizeBytes, record.provisioning === 'thick');
    } catch (err) {
      this.ledger.imageGrew(this.volumeImagePath(id));
      if (isNoSpace(err)) throw noSpace(`growing volume ${id}`);
      throw err;
    }
    this.ledger.imageGrew(this.volumeImagePath(id));
    return record;
  }

  /** Shared mode: grants the volume to a node (storage/attachments.ts). `allPools` bound the node's volume limit. */
  async attachVolume(id: VolumeId, req: AttachRequest, allPools: Iterable<ImagePool>): Promise<AttachmentRecord> {
    return attachVolume(this, id, req, allPools);
  }

  /** Shared mode: withdraws a node's grant, or every grant for an empty `nodeId` (storage/attachments.ts). */
  async detachVolume(id: VolumeId, nodeId: string): Promise<void> {
    return detachVolume(this, id, nodeId);
  }

  /** Shared mode: announces a node service in this pool; rewritten at every start. */
  async registerNode(nodeId: NodeId, maxVolumesPerNode: number): Promise<NodeRegistration> {
    return this.nodes.register(nodeId, maxVolumesPerNode);
  }

  /** Shared mode: the node's registration, or undefined while its node service has not registered here. */
  async nodeRegistration(nodeId: NodeId): Promise<NodeRegistration | undefined> {
    return this.nodes.read(nodeId);
  }
}

/**
 * The image's rename is in the volumes directory, like the 'ready' record written next, whose
 * directory fsync makes both durable; a crash before it leaves 'creating', which a retry redoes.
 */
const NO_DIR_SYNC = { syncDir: false };

export const DEFAULT_LOW_SPACE_FRACTION = 0.1;
const SPACE_CONDITION_TTL_MS = 10_000;

export function lowSpaceBytes(filesystemBytes: number, fraction = DEFAULT_LOW_SPACE_FRACTION): number {
  return Math.floor(filesystemBytes * fraction);
}

function describeUse(v: VolumeRecord): string {
  const parts = [
    ...v.staging.map((s) => `staged on ${s.nodeId}`),
    ...v.publications.map((p) => `published on ${p.nodeId} at ${p.targetPath}`),
    ...v.attachments.map((a) => `attached to ${a.nodeId}`),
  ];
  return parts.join(', ');
}
