// Chaos helper: the audit after every round. It reads the pool, the loop devices and the mount
// table and counts what should not be there: orphans (images without a ready record, partial
// images, temp record files, reservations nobody finishes, loops and mounts no record owns),
// corrupt records (anything that does not parse into a record's shape) and frozen filesystems.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { listLoops } from '../../../src/host/losetup.js';
import { mountsOfDevice, mountsUnder, readMountInfo } from '../../../src/host/mountinfo.js';
import type { FigureBook } from './figures.js';
import { isFrozen, thawQuietly } from './host-probes.js';

interface Parsed {
  kind: 'volume' | 'snapshot';
  id: string;
  state: string;
  staging: Array<{ nodeId: string; stagingPath: string; accessType: string }>;
  publications: Array<{ nodeId: string; targetPath: string }>;
}

const STATES = new Set(['creating', 'ready', 'deleting']);

/** Why `text`, read from `file`, is not a record of `kind` with id `id`; undefined when it is one. */
export function recordDefect(text: string, kind: 'volume' | 'snapshot', id: string): string | undefined {
  let r: Record<string, unknown>;
  try {
    r = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    return `not JSON (${(e as Error).message})`;
  }
  if (!r || typeof r !== 'object') return 'not an object';
  if (r.kind !== kind) return `kind ${JSON.stringify(r.kind)}, expected ${kind}`;
  if (r.id !== id) return `id ${JSON.stringify(r.id)} in a file named for ${id}`;
  if (typeof r.state !== 'string' || !STATES.has(r.state)) return `state ${JSON.stringify(r.state)}`;
  if (typeof r.sizeBytes !== 'number' || !Number.isSafeInteger(r.sizeBytes) || r.sizeBytes <= 0)
    return `sizeBytes ${JSON.stringify(r.sizeBytes)}`;
  if (kind === 'volume') {
    for (const list of ['staging', 'publications', 'attachments', 'accessTypes']) {
      if (!Array.isArray(r[list])) return `${list} is not a list`;
    }
  } else if (typeof r.sourceVolumeId !== 'string') return 'no sourceVolumeId';
  return undefined;
}

export interface AuditOptions {
  poolPath: string;
  workDir: string;
  nodeId: string;
  /** Mount points under the work dir that the test made itself (foreign tmpfs and the like). */
  ownMounts?: readonly string[];
}

export interface AuditResult {
  volumes: Map<string, Parsed>;
  snapshots: Map<string, Parsed>;
}

/** Audits the pool and the host; every finding goes into `book` with a line that names it. */
export async function auditPool(o: AuditOptions, book: FigureBook, when: string): Promise<AuditResult> {
  const volumes = await auditDir(join(o.poolPath, 'volumes'), 'volume', book, when);
  const snapshots = await auditDir(join(o.poolPath, 'snapshots'), 'snapshot', book, when);
  await auditLoops(o, volumes, book, when);
  await auditMounts(o, volumes, book, when);
  return { volumes, snapshots };
}

async function auditDir(dir: string, kind: 'volume' | 'snapshot', book: FigureBook, when: string): Promise<Map<string, Parsed>> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const records = new Map<string, Parsed>();
  for (const name of names.filter((n) => n.endsWith('.json') && !n.startsWith('.'))) {
    const id = name.slice(0, -'.json'.length);
    const text = await readFile(join(dir, name), 'utf8');
    const defect = recordDefect(text, kind, id);
    if (defect) book.found('corruptRecords', `${when}: ${kind} record ${name}: ${defect}`, `${kind} record ${name}: ${defect}`);
    else records.set(id, JSON.parse(text) as Parsed);
  }
  for (const name of names) {
    if (name.endsWith('.json') && !name.startsWith('.')) continue;
    if (name.endsWith('.tmp')) {
      // A restarted process sweeps these in the background once it holds the pool lock: give it a moment.
      if (await fileGoneWithin(join(dir, name), 5000)) continue;
      book.found('orphans', `${when}: temp record file ${kind}s/${name} left behind`, `temp record file ${kind}s/${name} left behind`);
    } else if (name.endsWith('.img.partial')) {
      const id = name.slice(0, -'.img.partial'.length);
      book.found(
        'orphans',
        `${when}: partial image ${kind}s/${name} (record state: ${records.get(id)?.state ?? 'none'})`,
        `partial image ${kind}s/${name} (record state: ${records.get(id)?.state ?? 'none'})`,
      );
    } else if (name.endsWith('.img')) {
      const id = name.slice(0, -'.img'.length);
      const r = records.get(id);
      if (r?.state !== 'ready')
        book.found(
          'orphans',
          `${when}: image ${kind}s/${name} without a ready record (${r?.state ?? 'no record'})`,
          `image ${kind}s/${name} without a ready record (${r?.state ?? 'no record'})`,
        );
    } else book.found('orphans', `${when}: unexpected file ${kind}s/${name}`, `unexpected file ${kind}s/${name}`);
  }
  for (const [id, r] of records) {
    if (r.state !== 'ready')
      book.found(
        'orphans',
        `${when}: ${kind} ${id} left in state ${r.state} after every operation completed`,
        `${kind} ${id} left in state ${r.state} after every operation completed`,
      );
    else if (!names.includes(`${id}.img`))
      book.found('orphans', `${when}: ${kind} ${id} is ready but has no image`, `${kind} ${id} is ready but has no image`);
  }
  return records;
}

/** Every loop over a pool file must be the single loop of a volume staged on this node, over a live image. */
async function auditLoops(o: AuditOptions, volumes: Map<string, Parsed>, book: FigureBook, when: string) {
  const perImage = new Map<string, string[]>();
  for (const l of await listLoops()) {
    if (!l.backingFile.startsWith(`${o.poolPath}/`)) continue;
    const rel = l.backingFile.slice(o.poolPath.length + 1);
    if (l.backingFileDeleted) {
      // A detach while something briefly holds the device (a blkid scan) is deferred by the
      // kernel to the last close: give such a loop a moment before calling it an orphan.
      if (await goneWithin(l.device, 5000)) continue;
      const holders = (await mountsOfDevice(l.device)).map((m) => m.mountPoint);
      const why = holders.length ? `still mounted at ${holders.join(', ')}` : 'mounted nowhere';
      book.found(
        'orphans',
        `${when}: ${l.device} is attached to deleted image ${rel} (${why}): its space is never freed`,
        `${l.device} is attached to deleted image ${rel}`,
      );
      continue;
    }
    const m = /^volumes\/(.+)\.img$/.exec(rel);
    const v = m ? volumes.get(m[1]!) : undefined;
    if (!v?.staging.some((s) => s.nodeId === o.nodeId)) {
      book.found(
        'orphans',
        `${when}: ${l.device} over ${rel}, which no staging record on ${o.nodeId} owns`,
        `${l.device} over ${rel}, which no staging record on ${o.nodeId} owns`,
      );
      continue;
    }
    perImage.set(rel, [...(perImage.get(rel) ?? []), l.device]);
  }
  for (const [rel, devices] of perImage) {
    if (devices.length > 1)
      book.found(
        'orphans',
        `${when}: ${devices.length} loops over ${rel}: ${devices.join(', ')}`,
        `${devices.length} loops over ${rel}: ${devices.join(', ')}`,
      );
  }
}

/** Every mount under the work dir must be a staging or target path that a record holds; and the converse. */
async function auditMounts(o: AuditOptions, volumes: Map<string, Parsed>, book: FigureBook, when: string) {
  const owned = new Set<string>(o.ownMounts ?? []);
  for (const v of volumes.values()) {
    for (const s of v.staging) if (s.nodeId === o.nodeId) owned.add(s.stagingPath);
    for (const p of v.publications) if (p.nodeId === o.nodeId) owned.add(p.targetPath);
  }
  const entries = await readMountInfo();
  const mounted = await mountsUnder(o.workDir, entries);
  for (const m of mounted) {
    if (!owned.has(m.mountPoint))
      book.found(
        'orphans',
        `${when}: ${m.mountPoint} (${m.fsType} ${m.source}) is mounted but no record owns it`,
        `${m.mountPoint} (${m.fsType} ${m.source}) is mounted but no record owns it`,
      );
  }
  const points = new Set(mounted.map((m) => m.mountPoint));
  for (const p of points) {
    const stack = mounted.filter((m) => m.mountPoint === p);
    if (stack.length > 1)
      book.found(
        'orphans',
        `${when}: ${stack.length} mounts stacked at ${p}: ${stack.map((m) => m.source).join(', ')}`,
        `${stack.length} mounts stacked at ${p}`,
      );
  }
  for (const v of volumes.values()) {
    for (const s of v.staging) {
      if (s.nodeId === o.nodeId && s.accessType === 'mount' && !points.has(s.stagingPath)) {
        book.found(
          'orphans',
          `${when}: volume ${v.id} record says staged at ${s.stagingPath}, where nothing is mounted`,
          `volume ${v.id} record says staged at ${s.stagingPath}, where nothing is mounted`,
        );
      }
    }
    for (const p of v.publications) {
      if (p.nodeId === o.nodeId && !points.has(p.targetPath)) {
        book.found(
          'orphans',
          `${when}: volume ${v.id} record says published at ${p.targetPath}, where nothing is mounted`,
          `volume ${v.id} record says published at ${p.targetPath}, where nothing is mounted`,
        );
      }
    }
  }
}

/**
 * Probes every filesystem mounted under the work dir (one mount per superblock) and thaws any
 * frozen one after counting it, so that the rest of the run does not hang on it.
 */
export async function auditFrozen(workDir: string, book: FigureBook, when: string): Promise<void> {
  const seen = new Set<string>();
  for (const m of await mountsUnder(workDir)) {
    if (m.fsType === 'tmpfs' || !['ext4', 'xfs', 'btrfs'].includes(m.fsType)) continue;
    const key = `${m.major}:${m.minor}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (await isFrozen(m.mountPoint)) {
      book.found(
        'frozenFilesystems',
        `${when}: ${m.source} at ${m.mountPoint} is frozen; thawed by the suite to go on`,
        `${m.source} at ${m.mountPoint} is frozen; thawed by the suite to go on`,
      );
      await thawQuietly(m.mountPoint);
    }
  }
}

/** Whether loop `device` is detached within `ms` (polled). */
async function goneWithin(device: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!(await listLoops()).some((l) => l.device === device && l.backingFileDeleted)) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

/** Whether `path` is removed within `ms` (polled). */
async function fileGoneWithin(path: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (
      !(await stat(path).then(
        () => true,
        () => false,
      ))
    )
      return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}
