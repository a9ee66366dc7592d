/**
 * Chaos: kill -9 of the controller and the node at random instants while create, snapshot, clone,
 * restore, stage, publish, expand and fsynced writes run concurrently. After each kill the dead
 * process is restarted, every interrupted operation is retried to completion (as a CO would), and
 * the pool and host are audited (design: Recovery): orphans, corrupt records, frozen filesystems,
 * and the checksums of every file written and fsynced before. Then the data is restaged and checked
 * once more, everything is torn down, and the pool must be empty.
 *
 *   QUARRY_CHAOS_SEED=n     repeat a run (the seed is printed)
 *   QUARRY_CHAOS_ROUNDS=n   kill rounds (default 12)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { MiB } from '../../src/domain/bytes.js';
import { CAP_SYS_RESOURCE, hasCapability } from '../../src/host/capabilities.js';
import { auditFrozen, auditPool } from './lib/audit.js';
import { startChaosCluster, type ChaosCluster, type Role } from './lib/cluster.js';
import * as csi from './lib/csi-ops.js';
import { FigureBook } from './lib/figures.js';
import { sha256, sha256Of, writeFsynced } from './lib/host-probes.js';
import { chaosRng, type Rng } from './lib/rng.js';
import { waitForHostTool } from './lib/busy-kill.js';

const ROUNDS = Number(process.env.QUARRY_CHAOS_ROUNDS ?? 12);
const MAX_ATTEMPTS = 6;
const RESOURCE_EXHAUSTED = 8;
const MAX_VOLUMES = 14;
const MAX_SNAPSHOTS = 16;
/** ext4 grows online only with CAP_SYS_RESOURCE (resize2fs gets EPERM without it); block volumes grow anywhere. */
const EXT4_GROWS = hasCapability(CAP_SYS_RESOURCE);
const SIZE: Record<'ext4' | 'block', number> = { ext4: 64 * MiB, block: 32 * MiB };

interface Vol {
  name: string;
  id: string;
  kind: 'ext4' | 'block';
  size: number;
  staging: string;
  target: string;
  staged: boolean;
  published: boolean;
  /** File name in the published mount -> sha256 of what was written and fsynced. */
  files: Map<string, string>;
}

interface Snap {
  name: string;
  id: string;
  source: Vol;
  size: number;
}

/** One CSI operation (or fsynced write) as a CO would issue it: retried with the same arguments until it succeeds. */
interface Op {
  label: string;
  role: Role | 'host';
  /** One attempt against the current processes; updates the model only on success. */
  attempt(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class World {
  vols: Vol[] = [];
  snaps: Snap[] = [];
  private seq = 0;
  constructor(
    readonly c: ChaosCluster,
    readonly rng: Rng,
    readonly ext4Grows: boolean,
  ) {}

  nextName(prefix: string) {
    return `${prefix}-${++this.seq}`;
  }

  /** New volume `name` in the model, once CreateVolume answered. */
  async add(name: string, id: string, kind: Vol['kind'], size: number): Promise<void> {
    if (this.vols.some((v) => v.id === id)) return;
    const p = await csi.pathsFor(this.c, name);
    this.vols.push({ name, id, kind, size, staging: p.staging, target: p.target, staged: false, published: false, files: new Map() });
  }

  /** Up to `n` operations on distinct objects, chosen at random among those that make sense now. */
  pickOps(n: number): Op[] {
    const busy = new Set<string>();
    const ops: Op[] = [];
    const c = this.c;
    const free = (v: Vol) => !busy.has(v.id);
    for (let tries = 0; ops.length < n && tries < n * 6; tries++) {
      const kind = this.rng.pick([
        'create',
        'create',
        'snapshot',
        'clone',
        'restore',
        'stage',
        'publish',
        'expand',
        'write',
        'write',
      ] as const);
      const vols = this.vols.filter(free);
      if (kind === 'create' && this.vols.length + ops.length < MAX_VOLUMES) {
        const k = this.rng.pick(['ext4', 'ext4', 'block'] as const);
        const name = this.nextName(`v-${k}`);
        ops.push({
          label: `CreateVolume ${name}`,
          role: 'controller',
          attempt: async () => this.add(name, await csi.createVolume(c, name, k, SIZE[k]), k, SIZE[k]),
        });
      } else if (kind === 'snapshot' && this.snaps.length < MAX_SNAPSHOTS && vols.length) {
        // Mostly of staged filesystems: those the controller freezes for the copy (design: Freeze).
        const staged = vols.filter((x) => x.staged && x.kind === 'ext4');
        const v = this.rng.pick(staged.length && this.rng.chance(0.75) ? staged : vols);
        busy.add(v.id);
        const name = this.nextName('snap');
        const size = v.size;
        ops.push({
          label: `CreateSnapshot ${name} of ${v.name}${v.staged ? ' (staged)' : ''}`,
          role: 'controller',
          attempt: async () => {
            const id = await csi.createSnapshot(c, name, v.id);
            if (!this.snaps.some((s) => s.id === id)) this.snaps.push({ name, id, source: v, size });
          },
        });
      } else if (kind === 'clone' && vols.length && this.vols.length + ops.length < MAX_VOLUMES) {
        const v = this.rng.pick(vols);
        busy.add(v.id);
        const name = this.nextName(`clone-${v.kind}`);
        const size = v.size;
        ops.push({
          label: `CreateVolume ${name} cloned from ${v.name}`,
          role: 'controller',
          attempt: async () => this.add(name, await csi.createVolume(c, name, v.kind, size, { volumeId: v.id }), v.kind, size),
        });
      } else if (kind === 'restore' && this.snaps.length && this.vols.length + ops.length < MAX_VOLUMES) {
        const s = this.rng.pick(this.snaps);
        const name = this.nextName(`restore-${s.source.kind}`);
        ops.push({
          label: `CreateVolume ${name} restored from ${s.name}`,
          role: 'controller',
          attempt: async () =>
            this.add(name, await csi.createVolume(c, name, s.source.kind, s.size, { snapshotId: s.id }), s.source.kind, s.size),
        });
      } else if (kind === 'stage' && vols.some((v) => !v.staged)) {
        const v = this.rng.pick(vols.filter((x) => !x.staged));
        busy.add(v.id);
        ops.push({
          label: `NodeStageVolume ${v.name}`,
          role: 'node',
          attempt: async () => {
            await csi.stage(c, v.id, v.staging, v.kind);
            v.staged = true;
          },
        });
      } else if (kind === 'publish' && vols.some((v) => v.staged && !v.published)) {
        const v = this.rng.pick(vols.filter((x) => x.staged && !x.published));
        busy.add(v.id);
        ops.push({
          label: `NodePublishVolume ${v.name}`,
          role: 'node',
          attempt: async () => {
            await csi.publish(c, v.id, v.staging, v.target, v.kind);
            v.published = true;
          },
        });
      } else if (kind === 'expand' && vols.some((v) => v.published && (v.kind === 'block' || this.ext4Grows))) {
        const v = this.rng.pick(vols.filter((x) => x.published && (x.kind === 'block' || this.ext4Grows)));
        busy.add(v.id);
        const size = v.size + 16 * MiB;
        ops.push({
          label: `NodeExpandVolume ${v.name} to ${size / MiB} MiB`,
          role: 'node',
          attempt: async () => {
            const got = await csi.nodeExpand(c, v.id, v.target, v.staging, v.kind, size);
            assert.ok(got >= size, `NodeExpandVolume answered ${got} bytes, asked for ${size}`);
            v.size = got;
          },
        });
      } else if (kind === 'write' && vols.some((v) => v.published && v.kind === 'ext4')) {
        const v = this.rng.pick(vols.filter((x) => x.published && x.kind === 'ext4'));
        busy.add(v.id);
        const file = `data-${++this.seq}`;
        const data = randomBytes(this.rng.between(4, 512) * 1024);
        ops.push({
          label: `write+fsync ${v.name}/${file}`,
          role: 'host',
          attempt: async () => {
            await writeFsynced(join(v.target, file), data);
            v.files.set(file, sha256(data));
          },
        });
      }
    }
    return ops;
  }
}

test('kill -9 of controller and node under concurrent operations: retries complete, nothing is left over or lost', {
  timeout: 9 * 60_000,
}, async (t) => {
  const rng = chaosRng('kill-rounds');
  const book = new FigureBook();
  // Sparse, so its size costs nothing; large enough that refusals for space stay rare.
  const c = await startChaosCluster(t, { pool: { fsType: 'xfs', reflink: true, sizeBytes: 4096 * MiB } });
  const world = new World(c, rng, await EXT4_GROWS);
  const auditOpts = { poolPath: c.poolPath, workDir: c.workDir, nodeId: c.nodeId };

  // RESOURCE_EXHAUSTED is an answer, not an interruption: a pool that refuses what it cannot hold
  // is right to (design: Capacity). Such an operation is dropped; the audit still sees any leak.
  const refusedForSpace = (op: Op, err: unknown) => {
    if ((err as { code?: number })?.code !== RESOURCE_EXHAUSTED) return false;
    process.stderr.write(`chaos: ${op.label} refused: ${csi.describeError(err)}\n`);
    return true;
  };
  const retryToCompletion = async (op: Op, firstError: unknown) => {
    let last = firstError;
    if (refusedForSpace(op, last)) return;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      book.add('retries');
      try {
        await op.attempt();
        return;
      } catch (err) {
        last = err;
        if (refusedForSpace(op, err)) return;
        await sleep(100 * attempt);
      }
    }
    book.found('failedAfterRetry', `${op.label}: still failing after ${MAX_ATTEMPTS} retries: ${csi.describeError(last)}`);
  };

  const verifyChecksums = async (when: string) => {
    for (const v of world.vols.filter((x) => x.published)) {
      for (const [file, want] of v.files) {
        book.add('checksumChecks');
        const got = await sha256Of(join(v.target, file)).catch((e) => `unreadable (${csi.describeError(e)})`);
        if (got !== want) book.found('checksumMismatches', `${when}: ${v.name}/${file}: sha256 ${got}, written and fsynced ${want}`);
      }
    }
  };

  try {
    for (let round = 1; round <= ROUNDS; round++) {
      const when = `round ${round}`;
      const ops = world.pickOps(rng.between(4, 8));
      book.add('operations', ops.length);
      const first = ops.map((op) =>
        op.attempt().then(
          () => undefined,
          (err: unknown) => err ?? new Error('failed'),
        ),
      );
      const victims: Role[] = rng.pick([['controller'], ['node'], ['controller', 'node']] as Role[][]);
      // Half the rounds kill after a random delay; the others the moment a victim runs a host tool.
      let instant: string;
      if (rng.chance(0.5)) {
        const ms = rng.between(0, 800);
        await sleep(ms);
        instant = `after ${ms} ms`;
      } else {
        const tool = await Promise.race(victims.map((r) => waitForHostTool(c.proc[r].pid, 2000)));
        instant = tool ? `while it ran ${tool}` : 'after 2 s without a host tool';
      }
      for (const r of victims) await c.kill(r);
      book.add('rounds');
      process.stderr.write(
        `chaos ${when}: ${ops.length} operations, killed ${victims.join(' and ')} ${instant}: ${ops.map((o) => o.label).join('; ')}\n`,
      );
      for (const r of victims) await c.start(r);
      // Right after the restart: a filesystem still frozen now is one nothing will thaw (design: Freeze).
      await auditFrozen(c.workDir, book, `${when}, after restart`);
      const errors = await Promise.all(first);
      await Promise.all(ops.map((op, i) => (errors[i] === undefined ? undefined : retryToCompletion(op, errors[i]))));
      await verifyChecksums(when);
      await auditFrozen(c.workDir, book, when);
      await auditPool(auditOpts, book, when);
    }

    // The data survives a full unstage and restage (nothing reformats or loses a synced write).
    const complete = async (label: string, fn: () => Promise<void>) => {
      await fn().catch((err) => retryToCompletion({ label, role: 'node', attempt: fn }, err));
    };
    for (const v of world.vols.filter((x) => x.published && x.files.size > 0)) {
      await complete(`NodeUnpublishVolume ${v.name}`, () => csi.unpublish(c, v.id, v.target));
      await complete(`NodeUnstageVolume ${v.name}`, () => csi.unstage(c, v.id, v.staging));
      await complete(`NodeStageVolume ${v.name} again`, () => csi.stage(c, v.id, v.staging, v.kind));
      await complete(`NodePublishVolume ${v.name} again`, () => csi.publish(c, v.id, v.staging, v.target, v.kind));
    }
    await verifyChecksums('after restaging');

    // The way back, as a CO would do it, then nothing may be left.
    for (const v of world.vols) {
      if (v.published) await complete(`NodeUnpublishVolume ${v.name}`, () => csi.unpublish(c, v.id, v.target));
      if (v.staged) await complete(`NodeUnstageVolume ${v.name}`, () => csi.unstage(c, v.id, v.staging));
    }
    for (const s of world.snaps) await complete(`DeleteSnapshot ${s.name}`, () => csi.deleteSnapshot(c, s.id));
    for (const v of world.vols) await complete(`DeleteVolume ${v.name}`, () => csi.deleteVolume(c, v.id));
    const left = await auditPool(auditOpts, book, 'after teardown');
    for (const id of [...left.volumes.keys(), ...left.snapshots.keys()])
      book.found('orphans', `after teardown: record ${id} is still in the pool`);
  } finally {
    book.publish(`kill rounds (seed ${rng.seed})`);
  }
  const f = book.figures;
  const findings = `\n${book.findings.join('\n')}\nseed ${rng.seed}`;
  assert.ok(f.rounds >= Math.min(ROUNDS, 10), `only ${f.rounds} kill rounds ran`);
  assert.equal(f.failedAfterRetry, 0, `operations that never completed:${findings}`);
  assert.equal(f.checksumMismatches, 0, `data written and fsynced before a kill did not read back:${findings}`);
  assert.equal(f.frozenFilesystems, 0, `filesystems left frozen:${findings}`);
  assert.equal(f.corruptRecords, 0, `corrupt records:${findings}`);
  assert.equal(f.orphans, 0, `orphans:${findings}`);
});
