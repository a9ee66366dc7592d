// The Helm chart (local mode, default values with the PodMonitor option on, plus the sandbox
// patches) in a real one-node cluster: the PodMonitor selects every Quarry pod, the chart registers a local-mode driver, a WaitForFirstConsumer claim binds, data survives a pod,
// the claim grows through the chart's resizer, and deleting the claim empties the pool.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startCluster, type Cluster } from './helpers/cluster.js';
import { loopsOnPool, poolEntries } from './helpers/host.js';
import { installPodMonitorCrd, installQuarry, installSnapshotSupport, quarryNamespace } from './helpers/install.js';
import { eventually, getJson, apply, type Kubectl } from './helpers/kubectl.js';
import { deleteAndWait, NS, pvcYaml, runPod, storageClassYaml } from './helpers/workloads.js';

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
    await installPodMonitorCrd(k);
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

  test('the chart registers a local-mode driver: no attach, storage capacity, topology per node', STORY, async () => {
    const driver = await getJson(k, ['csidriver', 'quarry.csi.dev']);
    assert.equal(driver.spec.attachRequired, false);
    assert.equal(driver.spec.storageCapacity, true);
    const node = await getJson(k, ['csinode', c.node]);
    const ours = (node.spec.drivers as any[]).find((d) => d.name === 'quarry.csi.dev');
    assert.deepEqual(ours?.topologyKeys, ['topology.quarry.csi.dev/node']);
    // The chart makes no StorageClass by default (values: storageClasses: []): the admin's, as in the guide.
    await apply(
      k,
      storageClassYaml('e2e-helm-xfs', { pool: 'default', 'csi.storage.k8s.io/fstype': 'xfs', provisioning: 'thin' }, 'local'),
    );
    storageClass = 'e2e-helm-xfs';
  });

  test('the PodMonitor option installs a PodMonitor that selects every Quarry pod, on ports they name', STORY, async () => {
    const ns = await quarryNamespace(k);
    const pm = await getJson(k, ['podmonitor', 'quarry', '-n', ns]);
    const selector = Object.entries(pm.spec.selector.matchLabels as Record<string, string>)
      .map(([key, v]) => `${key}=${v}`)
      .join(',');
    const pods = (await getJson(k, ['pods', '-n', ns, '-l', selector])).items as any[];
    const names = pods.map((p) => p.metadata.name as string);
    assert.ok(
      names.some((n) => n.startsWith('quarry-node')),
      `the node plugin is selected: ${names.join(' ')}`,
    );
    assert.ok(
      names.some((n) => n.startsWith('quarry-controller')),
      `the controller is selected: ${names.join(' ')}`,
    );
    const named = new Set(pods.flatMap((p) => (p.spec.containers as any[]).flatMap((c) => (c.ports ?? []).map((port: any) => port.name))));
    for (const ep of pm.spec.podMetricsEndpoints as Array<{ port: string }>) {
      assert.ok(named.has(ep.port), `endpoint port ${ep.port} is a port some Quarry pod names (${[...named].join(' ')})`);
    }
  });

  test("a claim binds, keeps data across pods, and grows through the chart's resizer", STORY, async () => {
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
