// The Helm chart (local mode, default values plus the sandbox patches) in a real one-node cluster:
// the chart's own StorageClass binds a WaitForFirstConsumer claim, data survives a pod, a claim
// grows through the chart's resizer, and deleting the claims empties the pool.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startCluster, type Cluster } from './helpers/cluster.js';
import { loopsOnPool, poolEntries } from './helpers/host.js';
import { installQuarry, installSnapshotSupport } from './helpers/install.js';
import { eventually, getJson, apply, type Kubectl } from './helpers/kubectl.js';
import { deleteAndWait, NS, pvcYaml, runPod } from './helpers/workloads.js';

const SETUP = { timeout: 25 * 60_000 };
const STORY = { timeout: 10 * 60_000 };
const MiB = 1024 * 1024;

describe('Helm chart, local mode: a one-node cluster', () => {
  let c: Cluster;
  let k: Kubectl;
  let storageClass = '';

  before(async () => {
    c = await startCluster();
    k = c.kubectl;
    await installSnapshotSupport(k);
    await installQuarry(k, 'helm-local');
  }, SETUP);

  after(async () => {
    if (!c) return;
    try {
      await k(['delete', 'pods', '--all', '-n', NS, '--wait=false']);
      await k(['delete', 'pvc', '--all', '-n', NS, '--wait=false']);
      await eventually('every PV deleted', 300, async () => ((await k(['get', 'pv', '-o', 'name'])).trim() === '' ? true : undefined));
    } finally {
      await c.down();
    }
  }, SETUP);

  test('the chart installs a WaitForFirstConsumer StorageClass for quarry.csi.dev', STORY, async () => {
    const classes = (await getJson(k, ['storageclass'])).items as any[];
    const ours = classes.filter((s) => s.provisioner === 'quarry.csi.dev');
    assert.ok(ours.length > 0, 'the chart made no StorageClass');
    assert.ok(ours.every((s) => s.volumeBindingMode === 'WaitForFirstConsumer'));
    storageClass = ours[0].metadata.name;
  });

  test('a claim of the chart StorageClass binds, keeps data across pods, and grows', STORY, async () => {
    assert.ok(storageClass);
    await apply(k, pvcYaml({ name: 'helm-claim', storageClass, size: '320Mi' }));
    const sum = await runPod(k, {
      name: 'helm-writer',
      pvc: 'helm-claim',
      script: 'head -c 1048576 /dev/urandom > /data/blob; sync; sha256sum /data/blob | cut -c1-64 > /dev/termination-log',
    });
    assert.match(sum, /^[0-9a-f]{64}$/);
    await deleteAndWait(k, 'pod', 'helm-writer');
    await k(['patch', 'pvc', '-n', NS, 'helm-claim', '--type=merge', '-p', '{"spec":{"resources":{"requests":{"storage":"640Mi"}}}}']);
    const read =
      `while [ "$(df -B1 --output=size /data | tail -1)" -lt ${480 * MiB} ]; do sleep 1; done; ` +
      'sha256sum /data/blob | cut -c1-64 > /dev/termination-log';
    assert.equal(await runPod(k, { name: 'helm-reader', pvc: 'helm-claim', script: read }), sum);
    await deleteAndWait(k, 'pod', 'helm-reader');
    await deleteAndWait(k, 'pvc', 'helm-claim');
    await eventually('every PV deleted', 180, async () => ((await k(['get', 'pv', '-o', 'name'])).trim() === '' ? true : undefined));
    assert.deepEqual(await poolEntries(c.poolDir), []);
    assert.deepEqual(await loopsOnPool(c.poolDir), []);
  });
});
