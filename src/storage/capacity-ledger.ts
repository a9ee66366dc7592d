import { statfsSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { capacityMargin, type CapacityInput } from './capacity.js';
import {
  imageIds,
  lineOf,
  snapshotReservation,
  statImageSync,
  volumeImageAllocation,
  type ImageAllocation,
  type PoolUsageSource,
} from './pool-usage.js';
import type { SnapshotRecord, VolumeRecord } from './records.js';

const BTRFS_SUPER_MAGIC = 0x9123683e;
const STAT_BATCH = 64;
const SYNC_STATS = 16;
const FULL_STAT_EVERY_MS = 30_000;
/**
 * How long after an image is unlinked on a reflink pool its extents may still count as shared:
 * XFS frees a deleted file's extents in a background worker (deferred inode inactivation), so a
 * relative measured right after the unlink can still look shared (design: Capacity). Seen gone
 * within 50 ms here; the window is wide for a loaded host.
 */
export const UNLINK_SETTLE_MS = 2_000;

export interface LedgerSource extends Pick<PoolUsageSource, 'root' | 'volumesDir' | 'reflink' | 'overprovisioning' | 'onCorrupt'> {
  listVolumes(): Promise<VolumeRecord[]>;
  listSnapshots(): Promise<SnapshotRecord[]>;
}

/** What the next read must measure of an image: nothing, its size and blocks (stat), or also its sharing (filefrag). */
type Pending = 'none' | 'stat' | 'full';

/** One volume's line: its record as this process knows it and its image's last measurement. */
interface Line {
  /** Undefined for an image with no readable record: it still counts (design: Capacity). */
  record?: VolumeRecord;
  image?: ImageAllocation;
  pending: Pending;
  /** Copies or hole punching of the image running in this process: its owned bytes count as 0 meanwhile. */
  busy: number;
}

/** What one line adds to the running totals of the fast count, as last worked out. */
interface Counted {
  promised: number;
  owned: number;
  /** The volume this line is a clone being copied from (its source's owned bytes are not counted meanwhile). */
  cloneOf?: string;
}

/** Staged, published or attached: a node may write it or discard blocks of it at any moment. */
const inUse = (r: VolumeRecord | undefined) => !!r && (r.staging.length > 0 || r.publications.length > 0 || r.attachments.length > 0);

/** The fields of a volume record that change what its line counts. */
const capacityKey = (r: VolumeRecord) => `${r.state}|${String(r.sizeBytes)}|${r.provisioning}|${inUse(r)}`;

/**
 * Whether the fast count may add a line's measured owned bytes. Not while this process copies or
 * punches the image, nor while it is being deleted (its files go before its record), nor while a
 * plain volume is being made (a thin image owns nothing yet), nor while a reflink clone fills (its
 * extents are shared): none of these can then be counted above what a recount finds.
 */
function ownsMeasured(line: Line, reflink: boolean): boolean {
  if (line.busy > 0) return false;
  const state = line.record?.state;
  if (state === 'deleting') return false;
  if (state === 'creating') return !!line.record?.source && !reflink;
  return true;
}

/** Lines whose allocation can change behind our back between two reads: stat'ed on every fast read. */
function mustStat(line: Line, reflink: boolean): boolean {
  if (inUse(line.record)) return true; // a node writes it and discards blocks of it
  return line.record?.state === 'creating' && !!line.record.source && !reflink && line.busy === 0; // a sparse clone filling
}

const NO_IMAGE: ImageAllocation = Object.freeze({ apparentBytes: 0, allocatedBytes: 0, sharedBytes: 0 });

const rank: Record<Pending, number> = { none: 0, stat: 1, full: 2 };
const atLeast = (a: Pending, b: Pending): Pending => (rank[a] >= rank[b] ? a : b);

/**
 * The pool's capacity ledger, kept in memory (design: Capacity). Promised bytes come from the
 * records this process wrote or read; owned bytes from the last measurement of each image, taken
 * again only where it can have changed. Read under the pool lock only: the lock tells it when
 * another process changed records (the pool generation), and it then re-reads them.
 *
 * What it counts is never more than a full recount would (storage/pool-usage.ts measurePool):
 * - free space and the filesystem size come from statfs on every read;
 * - an image whose owned bytes can shrink behind our back (a node discarding blocks of a volume
 *   in use) is re-stat'ed on every read, its shared bytes kept from the last extent map: sharing
 *   only grows through our own copies, which mark the source;
 * - an image being copied or punched by this process counts as owning nothing until it is
 *   measured again;
 * - a record being deleted owns nothing; a failed record write drops the ledger for a re-read.
 */
export class CapacityLedger {
  private lines = new Map<string, Line>();
  private snapshots = new Map<string, SnapshotRecord>();
  private synced = false;
  private lastFullStat = Date.now();
  /** Until then, an extent map that still shows sharing is measured again at the next read. */
  private unlinkSettlesAt = 0;

  // The fast count, kept incrementally so that a read costs O(lines changed), not O(pool): every
  // change of a line marks it touched, and the next read works out again what the touched lines add.
  private touched = new Set<string>();
  private counted = new Map<string, Counted>();
  private promisedTotal = 0;
  private ownedTotal = 0;
  /** Per volume: how many clones of it are being copied (in this process or another). */
  private clonesCopying = new Map<string, number>();
  /** Lines to measure at the next read: pending, or never measured. */
  private due = new Set<string>();
  /** Lines stat'ed at every read (mustStat). */
  private statEveryRead = new Set<string>();

  constructor(private readonly src: LedgerSource) {}

  /** Another process changed records, or a write of ours may have half-happened: re-read before the next answer. */
  invalidate(): void {
    this.synced = false;
  }

  /**
   * The volume's record as the ledger knows it, when it knows the pool's records (read and kept up
   * to date since, with no change by another process seen): what a read under the lock would find,
   * short of a file edited by hand.
   */
  knownRecord(id: string): { record?: VolumeRecord } | undefined {
    if (!this.synced) return undefined;
    return { record: this.lines.get(id)?.record };
  }

  /** True when the ledger knows the pool's records and has no line (no record, no image) for the ID. */
  knowsNothingOf(id: string): boolean {
    return this.synced && !this.lines.has(id);
  }

  /** A volume record this process has just written. */
  noteVolume(r: VolumeRecord): void {
    const old = this.lines.get(r.id);
    if (!old) {
      // New: an image made from nothing shares no extent, so a stat tells all; a copy needs its extent map.
      const plain = !r.source;
      this.lines.set(r.id, { record: r, pending: plain ? 'stat' : 'full', busy: 0, image: plain ? NO_IMAGE : undefined });
      this.touched.add(r.id);
      return;
    }
    if (!old.record || capacityKey(old.record) !== capacityKey(r)) {
      // A plain volume just made ready has never shared an extent: its size and blocks tell all.
      const fresh = old.record?.state === 'creating' && r.state === 'ready' && !r.source;
      old.pending = atLeast(old.pending, fresh ? 'stat' : 'full');
      if (fresh) old.image = NO_IMAGE;
      if (inUse(old.record) && !inUse(r)) this.remeasureFamily(r.id);
    }
    old.record = r;
    this.touched.add(r.id);
  }

  /** A volume record this process has just removed (its files went first). */
  forgetVolume(id: string): void {
    const gone = this.lines.get(id);
    this.lines.delete(id);
    this.touched.add(id);
    this.volumeGone(id, gone);
  }

  noteSnapshot(s: SnapshotRecord): void {
    const old = this.snapshots.get(s.id);
    this.snapshots.set(s.id, s);
    if (old?.state !== s.state) this.copyChanged(s.sourceVolumeId, s.state);
  }

  /**
   * A copy of the volume (a snapshot or a clone, made here or seen made by another process) changed
   * state. Marked for deletion: the source's sharing can only fall from here. Otherwise the copy made
   * its extents shared. One rule for both ways of learning it (design: Capacity).
   */
  private copyChanged(sourceVolumeId: string, state: string): void {
    if (state === 'deleting') this.sharingFell(sourceVolumeId);
    else this.sharingGrew(sourceVolumeId);
  }

  forgetSnapshot(id: string): void {
    const gone = this.snapshots.get(id);
    this.snapshots.delete(id);
    if (gone) this.snapshotGone(id, gone.sourceVolumeId);
  }

  /**
   * A volume's writes while in use unshared extents its relatives held with it (its source, its
   * clones, volumes restored from its snapshots, and theirs): their owned bytes may have grown,
   * which the fast count leaves uncounted until they are measured again.
   */
  private remeasureFamily(id: string): void {
    const links = new Map<string, string[]>();
    const link = (x: string, y: string) => {
      links.set(x, [...(links.get(x) ?? []), y]);
      links.set(y, [...(links.get(y) ?? []), x]);
    };
    for (const [vid, line] of this.lines) {
      const source = line.record?.source;
      if (source?.kind === 'volume') link(vid, source.id);
      if (source?.kind === 'snapshot') {
        const snap = this.snapshots.get(source.id);
        if (snap) link(vid, snap.sourceVolumeId);
        // Restored from a snapshot deleted since: whom it still shares with is no longer recorded.
        else if ((line.image?.sharedBytes ?? 0) > 0) this.remeasure(vid);
      }
    }
    const seen = new Set([id]);
    const queue = [id];
    while (queue.length > 0) {
      for (const next of links.get(queue.pop()!) ?? []) {
        if (seen.has(next)) continue;
        seen.add(next);
        queue.push(next);
        this.sharingFell(next);
      }
    }
  }

  /**
   * A volume went: extents it shared may now be one other volume's alone. Sharing outlives the
   * records that explain it (a clone of a clone whose middle is deleted shares with the first
   * directly), so a volume that shared anything, or whose sharing is not known, has every volume
   * that shares extents measured afresh; one that shared nothing changes no one's count.
   */
  private volumeGone(id: string, gone: Line | undefined): void {
    const shared = !gone?.image || gone.pending === 'full' || gone.image.sharedBytes > 0;
    if (shared) this.sharersOfUnlinkedImage();
    this.remeasureCopiesOf('volume', id);
  }

  /**
   * A snapshot went. Its image is not measured here, so whom it shared with is not known: a block
   * its source overwrote since may now be a clone's alone. Every volume that shares extents, its
   * source and what was restored from it are measured afresh.
   */
  private snapshotGone(id: string, sourceVolumeId: string): void {
    this.sharersOfUnlinkedImage();
    this.sharingFell(sourceVolumeId);
    this.remeasureCopiesOf('snapshot', id);
  }

  private remeasureCopiesOf(kind: 'volume' | 'snapshot', id: string): void {
    for (const [other, line] of this.lines) if (line.record?.source?.kind === kind && line.record.source.id === id) this.sharingFell(other);
  }

  /**
   * An image that may have shared extents was unlinked: every volume that shares extents may own
   * more now, and on a reflink pool the kernel may still be freeing it (see UNLINK_SETTLE_MS).
   */
  private sharersOfUnlinkedImage(): void {
    if (this.src.reflink) this.unlinkSettlesAt = Date.now() + UNLINK_SETTLE_MS;
    for (const [vid, line] of this.lines) if ((line.image?.sharedBytes ?? 0) > 0) this.sharingFell(vid);
  }

  /** The image at `path` changed size or allocation (expansion, preallocation): its blocks are read again. */
  imageGrew(path: string): void {
    const id = this.volumeIdOf(path);
    const line = id === undefined ? undefined : this.lines.get(id);
    if (line) line.pending = atLeast(line.pending, 'stat');
    if (id !== undefined) this.touched.add(id);
  }

  /**
   * Runs work that may share or punch the image at `path` (a reflink copy from it, dig-holes).
   * Its owned bytes count as 0 meanwhile, never more than a recount would find; measured afresh
   * after. `wholeFileClone`: the work is one FICLONE of the whole image (see sharingGrew).
   */
  async whileChanging<T>(path: string, work: () => Promise<T>, opts: { wholeFileClone?: boolean } = {}): Promise<T> {
    const id = this.volumeIdOf(path);
    if (id === undefined) return work();
    const line = this.lineFor(id);
    line.busy++;
    this.touched.add(id);
    try {
      return await work();
    } finally {
      line.busy--;
      if (opts.wholeFileClone) this.sharingGrew(id);
      else this.remeasure(id);
    }
  }

  /**
   * A whole-file reflink copy of the volume's image has just finished: its sharing grew. An idle
   * image's extent map is read again (the count must be exact once nothing writes it). An image a
   * node may write needs no extent map (design: Capacity): it is stat'ed now and every allocated
   * byte counted as shared. No more is shared than is allocated, so that owns at most what a map
   * read now would find (exactly as much on btrfs and, on XFS, when no extent is unwritten: XFS
   * does not share unwritten extents); sharing only falls after it until our next copy, which
   * comes back here; and a node's writes only add allocation, counted as owned at the next stat.
   * The exact count comes back when the volume leaves use (noteVolume measures it then).
   */
  private sharingGrew(id: string): void {
    const line = this.lines.get(id);
    if (!line) return;
    const image = this.src.reflink && line.busy === 0 && inUse(line.record) ? statImageSync(this.src.volumesDir, id, Infinity) : undefined;
    if (!image) {
      this.remeasure(id);
      return;
    }
    line.image = image;
    line.pending = 'stat';
    this.touched.add(id);
  }

  /**
   * Extents the volume shared may now be its own (a sharer went, or a relative unshared them by
   * writing): its owned bytes can only have grown. An idle image is measured again (the count must
   * be exact); one in use keeps its known shared bytes, above the truth from now on, so it counts
   * fewer owned bytes than a recount: on the safe side until it leaves use and is measured, and no
   * extent map is read on the request path meanwhile (a refusal recounts exactly anyway). This also
   * holds while XFS frees a deleted file's extents in the background (nothing is read).
   */
  private sharingFell(id: string): void {
    const line = this.lines.get(id);
    if (line?.image && inUse(line.record)) return;
    this.remeasure(id);
  }

  /**
   * The capacity input. Fast (the default): measures only what can have changed, and counts owned
   * bytes only where they cannot be stale-high, so it never exceeds a full recount. Exact: measures
   * every image afresh and counts it as measurePool does (the recount itself, from the records kept
   * here). Call under the pool lock.
   */
  async input(excludeId?: string, exact = false): Promise<CapacityInput> {
    if (!this.synced) await this.resync();
    const now = Date.now();
    if (exact || now - this.lastFullStat > FULL_STAT_EVERY_MS) {
      // Bounds how long a change made by hand to an idle image (a punched hole, a deleted file) goes unseen.
      for (const [id, line] of this.lines) {
        line.pending = atLeast(line.pending, exact ? 'full' : 'stat');
        this.touched.add(id);
      }
      this.lastFullStat = now;
    }
    // Synchronous (microseconds), as everything else inside a hold of the pool lock: see pool-lock.ts.
    const fs = statfsSync(this.src.root);
    this.settle();
    await this.measure(exact);
    this.settle();
    let owned: number;
    let promised: number;
    if (exact) {
      ({ owned, promised } = this.fullCount(excludeId, true));
    } else {
      const skip = excludeId === undefined ? undefined : this.counted.get(excludeId);
      owned = this.ownedTotal - (skip?.owned ?? 0);
      promised = this.promisedTotal - (skip?.promised ?? 0);
    }
    promised += this.snapshotReservations(excludeId);
    const filesystemBytes = fs.blocks * fs.bsize;
    return {
      filesystemBytes,
      freeBytes: fs.bavail * fs.bsize,
      ownedBytes: owned,
      promisedBytes: promised,
      marginBytes: capacityMargin(filesystemBytes, fs.type === BTRFS_SUPER_MAGIC),
      overprovisioning: this.src.overprovisioning,
    };
  }

  /** What half-made snapshots reserve (there are few: one pass each read). */
  snapshotReservations(excludeId?: string): number {
    let reserved = 0;
    for (const s of this.snapshots.values()) {
      if (s.state !== 'creating' || s.id === excludeId) continue;
      reserved += snapshotReservation(s, this.src, (id) => this.lines.get(id)?.record?.sizeBytes);
    }
    return reserved;
  }

  /**
   * The fast count worked out by a pass over every line, as the ledger did before it kept running
   * totals. Tests compare it with input()'s totals at every step (ImagePool.ledgerCapacity).
   */
  countedByFullPass(excludeId?: string): { owned: number; promised: number } {
    this.settle();
    return this.fullCount(excludeId, false);
  }

  /** Owned and promised bytes over every line; `exact` counts every measured line's owned bytes. */
  private fullCount(excludeId: string | undefined, exact: boolean): { owned: number; promised: number } {
    // A clone being copied (here or by another process) shares its source's extents a little more each moment.
    const cloned = new Set<string>();
    for (const line of this.lines.values()) {
      const r = line.record;
      if (r?.state === 'creating' && r.source?.kind === 'volume') cloned.add(r.source.id);
    }
    let owned = 0;
    let promised = 0;
    for (const [id, line] of this.lines) {
      if (id === excludeId) continue;
      const counted = lineOf(this.src, id, line.record, line.image);
      promised += counted.promisedBytes;
      if (exact || (ownsMeasured(line, this.src.reflink) && !(this.src.reflink && cloned.has(id)))) owned += counted.ownedBytes;
    }
    return { owned, promised };
  }

  /** Works out again what each touched line adds to the totals (and what the lines it affects add). */
  private settle(): void {
    while (this.touched.size > 0) {
      const ids = [...this.touched];
      this.touched.clear();
      for (const id of ids) this.recount(id);
    }
  }

  private recount(id: string): void {
    const old = this.counted.get(id);
    if (old) {
      this.promisedTotal -= old.promised;
      this.ownedTotal -= old.owned;
      if (old.cloneOf !== undefined) this.addClone(old.cloneOf, -1);
    }
    const line = this.lines.get(id);
    if (!line) {
      this.counted.delete(id);
      this.due.delete(id);
      this.statEveryRead.delete(id);
      if (old?.cloneOf !== undefined) this.touched.add(old.cloneOf);
      return;
    }
    const r = line.record;
    const cloneOf = r?.state === 'creating' && r.source?.kind === 'volume' ? r.source.id : undefined;
    if (cloneOf !== undefined) this.addClone(cloneOf, 1);
    if (old?.cloneOf !== cloneOf) {
      // The source's owned bytes count, or stop counting, while the copy runs.
      if (old?.cloneOf !== undefined) this.touched.add(old.cloneOf);
      if (cloneOf !== undefined) this.touched.add(cloneOf);
    }
    const { promisedBytes, ownedBytes } = lineOf(this.src, id, r, line.image);
    const copying = this.src.reflink && (this.clonesCopying.get(id) ?? 0) > 0;
    const owned = ownsMeasured(line, this.src.reflink) && !copying ? ownedBytes : 0;
    this.counted.set(id, { promised: promisedBytes, owned, cloneOf });
    this.promisedTotal += promisedBytes;
    this.ownedTotal += owned;
    if (line.pending !== 'none' || !line.image) this.due.add(id);
    else this.due.delete(id);
    if (mustStat(line, this.src.reflink)) this.statEveryRead.add(id);
    else this.statEveryRead.delete(id);
  }

  private addClone(source: string, n: number): void {
    const count = (this.clonesCopying.get(source) ?? 0) + n;
    if (count > 0) this.clonesCopying.set(source, count);
    else this.clonesCopying.delete(source);
  }

  /** Drops the running totals: every line is worked out afresh at the next read (after a re-read of the records). */
  private recountAll(): void {
    this.counted.clear();
    this.clonesCopying.clear();
    this.due.clear();
    this.statEveryRead.clear();
    this.promisedTotal = 0;
    this.ownedTotal = 0;
    this.touched = new Set(this.lines.keys());
  }

  /** Re-reads every record (unchanged ones from the record store's cache) and keeps the measurements of unchanged lines. */
  private async resync(): Promise<void> {
    const [volumes, snapshots, images] = await Promise.all([
      this.src.listVolumes(),
      this.src.listSnapshots(),
      imageIds(this.src.volumesDir),
    ]);
    const next = new Map<string, Line>();
    for (const r of volumes) {
      const old = this.lines.get(r.id);
      const same = old?.record && old.image && capacityKey(old.record) === capacityKey(r);
      next.set(r.id, { record: r, image: old?.image, busy: old?.busy ?? 0, pending: same ? old.pending : 'full' });
    }
    // Images with no readable record: counted at their own size; measured once, then when they change here.
    for (const id of images) {
      if (next.has(id)) continue;
      const old = this.lines.get(id);
      next.set(id, old && !old.record ? old : { pending: 'full', busy: old?.busy ?? 0 });
    }
    const before = { lines: this.lines, snapshots: this.snapshots };
    this.lines = next;
    this.snapshots = new Map(snapshots.map((s) => [s.id, s]));
    this.synced = true;
    this.recountAll();
    // What another process copied or deleted changed who shares which extents: measured afresh.
    for (const s of this.snapshots.values()) if (before.snapshots.get(s.id)?.state !== s.state) this.copyChanged(s.sourceVolumeId, s.state);
    for (const [id, s] of before.snapshots) if (!this.snapshots.has(id)) this.snapshotGone(id, s.sourceVolumeId);
    for (const [id, line] of before.lines) if (line.record && !next.has(id)) this.volumeGone(id, line);
    for (const r of volumes) {
      const was = before.lines.get(r.id)?.record;
      if (r.source?.kind === 'volume' && was?.state !== r.state) this.copyChanged(r.source.id, r.state);
      if (inUse(was) && !inUse(r)) this.remeasureFamily(r.id);
    }
  }

  private async measure(exact: boolean): Promise<void> {
    const due: Array<[string, Line]> = [];
    if (exact) due.push(...this.lines);
    else {
      const add = (id: string) => {
        const line = this.lines.get(id);
        if (line) due.push([id, line]);
      };
      for (const id of this.due) add(id);
      for (const id of this.statEveryRead) if (!this.due.has(id)) add(id);
    }
    for (const [id] of due) this.touched.add(id);
    // A few stats (the usual case: the last volume made, the volumes in use) run synchronously, as
    // everything else under the lock; extent maps and long lists go through libuv in batches.
    if (due.length <= SYNC_STATS && due.every(([, line]) => line.pending !== 'full' && line.image)) {
      for (const [id, line] of due) {
        line.pending = 'none';
        line.image = statImageSync(this.src.volumesDir, id, line.image!.sharedBytes) ?? {
          apparentBytes: 0,
          allocatedBytes: 0,
          sharedBytes: 0,
        };
      }
      return;
    }
    for (let start = 0; start < due.length; start += STAT_BATCH) {
      await Promise.all(
        due.slice(start, start + STAT_BATCH).map(async ([id, line]) => {
          const full = line.pending === 'full' || !line.image;
          line.pending = 'none';
          const image = await volumeImageAllocation(this.src.volumesDir, id, this.src.reflink, full ? undefined : line.image?.sharedBytes);
          line.image = image ?? { apparentBytes: 0, allocatedBytes: 0, sharedBytes: 0 };
          // Sharing can only fall as the kernel finishes a delete: a count on the safe side until then.
          if (full && line.image.sharedBytes > 0 && Date.now() < this.unlinkSettlesAt) line.pending = 'full';
          this.touched.add(id);
        }),
      );
    }
  }

  private lineFor(id: string): Line {
    let line = this.lines.get(id);
    if (!line) {
      line = { pending: 'full', busy: 0 };
      this.lines.set(id, line);
      this.touched.add(id);
    }
    return line;
  }

  private remeasure(id: string): void {
    const line = this.lines.get(id);
    if (line) {
      line.pending = 'full';
      this.touched.add(id);
    }
  }

  /** The volume ID of an image path in this pool, or undefined for any other file. */
  private volumeIdOf(path: string): string | undefined {
    if (dirname(path) !== this.src.volumesDir) return undefined;
    const m = /^(.+)\.img(\.partial)?$/.exec(basename(path));
    return m?.[1];
  }
}
