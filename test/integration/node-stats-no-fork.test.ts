// NodeGetVolumeStats forks no host tool (design: Process footprint): the loop device behind a volume
// path and its backing file are read from /sys. The kubelet asks for stats of every volume every
// minute, and one `losetup --json --list` per call was most of a busy node's CPU.
//
// A real node process stages and publishes real volumes; then this process answers
// NodeGetVolumeStats through the same service code on the real host, with the host-tool observer
// (called for every run of src/host/exec.ts, the only place that starts a child) counting.
//
// One fork is left, and not in the loop lookup: the first call in a pool's space-condition window
// measures the pool's capacity, which on a reflink pool reads each image's shared extents with
// filefrag (storage's capacity measurement, cached for every volume of the pool for a while). It
// is allowed here by name on the first pass only; every later call must run no tool at all.
import { after, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { pino } from 'pino';
import { buildContext } from '../../src/cli/serve.js';
import { parseConfig } from '../../src/cli/config.js';
import { setHostToolObserver } from '../../src/host/exec.js';
import { nodeGetVolumeStats } from '../../src/services/node/volume-stats.js';
import { assertNoHostState, provision, startCluster, teardown, type VolumeKind } from '../helpers/csi-flow.js';
import { onCleanup, assertNoLeaks } from '../helpers/scratch.js';

after(assertNoLeaks);

for (const kind of ['xfs', 'block'] as VolumeKind[]) {
  test(`${kind}: NodeGetVolumeStats of a staged and published volume runs no host tool`, async (t) => {
    const c = await startCluster(t);
    const v = await provision(c, `nofork-${kind}`, kind);
    const config = parseConfig('node', [
      '--endpoint',
      'unix:///unused/nofork.sock',
      '--nodeid',
      c.nodeId,
      '--pool',
      c.poolPath,
      '--kubelet-dir',
      c.workDir,
    ]);
    const ctx = await buildContext(config, pino({ level: 'silent' }));
    const runs: string[] = [];
    setHostToolObserver((tool) => runs.push(tool));
    onCleanup(t, () => setHostToolObserver(undefined));

    const paths = kind === 'block' ? [v.target] : [v.target, v.staging];
    const statsOfAll = async () => {
      for (const path of paths) {
        const stats = await nodeGetVolumeStats(ctx, { volume_id: v.volumeId, volume_path: path } as never);
        // The answer is the real one (the volume's device was found), not an early NOT_FOUND.
        assert.ok(
          stats.usage?.some((u) => u.unit === 'BYTES' && Number(u.total) > 0),
          `stats of ${path}: ${JSON.stringify(stats)}`,
        );
        assert.equal(stats.volume_condition?.abnormal, false, JSON.stringify(stats.volume_condition));
      }
    };
    await statsOfAll();
    assert.deepEqual(
      runs.filter((tool) => tool !== 'filefrag'),
      [],
      `host tools run by the first NodeGetVolumeStats: ${runs.join(', ')}`,
    );
    runs.length = 0;
    for (let i = 0; i < 5; i++) await statsOfAll();
    assert.deepEqual(runs, [], `host tools run by later NodeGetVolumeStats: ${runs.join(', ')}`);

    // The observer does count: a host-tool run through the same context is seen.
    await ctx.host.loops.findByBackingFile(c.imagePath(v.volumeId));
    assert.ok(runs.length > 0, 'the host-tool observer saw no run of losetup; the assertion above would prove nothing');

    setHostToolObserver(undefined);
    await teardown(c, v);
    await assertNoHostState(c);
  });
}
