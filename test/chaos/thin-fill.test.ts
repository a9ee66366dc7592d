/**
 * Chaos: thin volumes filled to the promise (design: Capacity). At overprovisioning 1.0 on a small
 * XFS pool and a small ext4 pool, thin block volumes are created until GetCapacity's promise is
 * used up, staged, published, and each is filled to its full size with a fsync after every chunk.
 * What the pool promised it must hold: 0 lost writes (no EIO from a write or an fsync).
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { MiB } from '../../src/domain/bytes.js';
import { fill } from './lib/child.js';
import { startChaosCluster } from './lib/cluster.js';
import * as csi from './lib/csi-ops.js';
import { FigureBook } from './lib/figures.js';

const POOL_BYTES = 512 * MiB;
const VOLUMES = 4;
const CHUNK = 4 * MiB;
const book = new FigureBook();
after(() => void book.publish('thin fill to the promise'));

describe('thin volumes filled to what GetCapacity promised (overprovisioning 1.0)', () => {
  for (const fsType of ['xfs', 'ext4'] as const) {
    test(`${fsType} pool of ${POOL_BYTES / MiB} MiB: every promised byte can be written`, { timeout: 5 * 60_000 }, async (t) => {
      const c = await startChaosCluster(t, { pool: { fsType, sizeBytes: POOL_BYTES }, extraArgs: ['--overprovisioning', '1.0'] });
      const promised = await csi.getCapacity(c);
      assert.ok(promised >= VOLUMES * MiB, `GetCapacity promised only ${promised} bytes`);
      const each = Math.floor(promised / VOLUMES / MiB) * MiB;
      const sizes = Array.from({ length: VOLUMES }, (_, i) => (i < VOLUMES - 1 ? each : promised - each * (VOLUMES - 1)));
      const lines: string[] = [];
      for (const [i, size] of sizes.entries()) {
        const name = `fill-${fsType}-${i}`;
        const id = await csi.createVolume(c, name, 'block', size, undefined, { provisioning: 'thin' });
        const p = await csi.pathsFor(c, name);
        await csi.stage(c, id, p.staging, 'block');
        await csi.publish(c, id, p.staging, p.target, 'block');
        book.add('operations', 4);
        const r = await fill(t, p.target, size, CHUNK, false);
        const failed = Object.values(r.errors).reduce((a, b) => a + b, 0);
        lines.push(`${name}: ${size / MiB} MiB, wrote ${(r.written / MiB).toFixed(0)} MiB, failed chunks ${JSON.stringify(r.errors)}`);
        if (failed > 0) {
          book.add('lostWrites', failed);
          book.findings.push(
            `lostWrites: ${fsType} pool: ${name} (${size / MiB} MiB of ${promised / MiB} MiB promised): ${failed} fsynced ${CHUNK / MiB} MiB chunks failed ${JSON.stringify(r.errors)}, ${((size - r.written) / MiB).toFixed(0)} MiB never written`,
          );
        }
      }
      process.stderr.write(`chaos thin fill on ${fsType}: promised ${promised / MiB} MiB\n  ${lines.join('\n  ')}\n`);
      assert.deepEqual(
        lines.filter((l) => !l.endsWith('failed chunks {}')),
        [],
        `at overprovisioning 1.0 the ${fsType} pool promised ${promised / MiB} MiB and lost writes filling it (EIO = data the volume acknowledged space for and could not keep)`,
      );
    });
  }
});
