// The shared overlay in a real one-node cluster: external-attacher turns VolumeAttachment objects
// into ControllerPublishVolume, and a single-writer volume already published to one node is refused
// to another. The "other node" is a Node and CSINode object with no kubelet behind it: enough for
// external-attacher to ask Quarry, which is what the story checks.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startCluster, type Cluster } from './helpers/cluster.js';
import { join } from 'node:path';
import { allocatedBytes, loopsOnPool, poolEntries } from './helpers/host.js';
import { installQuarry, installSnapshotSupport, renderInstall } from './helpers/install.js';
import { apply, eventually, exists, getJson, type Kubectl } from './helpers/kubectl.js';
import { deleteAndWait, NS, podYaml, pvcYaml, storageClassYaml, volumeHandleOf } from './helpers/workloads.js';

const SETUP = { timeout: 25 * 60_000 };
const STORY = { timeout: 10 * 60_000 };
const GHOST = 'e2e-ghost-node';

describe('shared overlay: a one-node cluster', () => {
  let c: Cluster;
  let k: Kubectl;

  before(async () => {
    c = await startCluster('/var/lib/quarry/shared');
    k = c.kubectl;
    await installSnapshotSupport(k);
  }, SETUP);

  after(async () => {
    if (!c) return;
    try {
      await k(['delete', 'volumeattachment', `e2e-ghost-attach`, '--ignore-not-found', '--wait=false']).catch(() => '');
      await k(['delete', 'pods', '--all', '-n', NS, '--wait=false']);
      await k(['delete', 'pvc', '--all', '-n', NS, '--wait=false']);
      await eventually('every PV deleted', 300, async () => ((await k(['get', 'pv', '-o', 'name'])).trim() === '' ? true : undefined));
    } finally {
      await c.down();
    }
  }, SETUP);

  test('switching a live install from local to shared needs the CSIDriver object deleted first', STORY, async () => {
    await apply(k, await renderInstall('local'));
    await assert.rejects(apply(k, await renderInstall('shared')), /attachRequired|immutable/);
    await k(['delete', 'csidriver', 'quarry.csi.dev']);
    await k(['delete', 'daemonset,deployment', '-n', 'quarry-system', '--all', '--wait=true']);
    await installQuarry(k, 'shared');
    const driver = await getJson(k, ['csidriver', 'quarry.csi.dev']);
    assert.equal(driver.spec.attachRequired, true);
  });

  let pv = '';
  test("a pod's volume attaches through a VolumeAttachment, and the pod writes and reads", STORY, async () => {
    await apply(k, storageClassYaml('e2e-shared', { pool: 'shared', 'csi.storage.k8s.io/fstype': 'ext4' }, 'shared'));
    await apply(k, pvcYaml({ name: 'attached', storageClass: 'e2e-shared', size: '128Mi' }));
    await apply(k, podYaml({ name: 'attached-pod', pvc: 'attached', script: 'echo shared-data > /data/f; sync; sleep 3600' }));
    pv = (await volumeHandleOf(k, 'attached')).pv;
    const va = await eventually(`a VolumeAttachment of ${pv} attached`, 180, async () => {
      const list = await getJson(k, ['volumeattachments']);
      return (list.items as any[]).find((a) => a.spec.source.persistentVolumeName === pv && a.status?.attached === true);
    });
    assert.equal(va.spec.nodeName, c.node);
    assert.equal(va.spec.attacher, 'quarry.csi.dev');
    await eventually('attached-pod running', 180, async () =>
      (await getJson(k, ['pod', '-n', NS, 'attached-pod'])).status?.phase === 'Running' ? true : undefined,
    );
  });

  test('a second attach of the single-writer volume to another node is refused', STORY, async () => {
    assert.ok(pv, 'needs the attached volume of the previous story');
    await apply(
      k,
      `apiVersion: v1
kind: Node
metadata: {name: ${GHOST}, labels: {kubernetes.io/hostname: ${GHOST}}}
spec: {unschedulable: true}
---
apiVersion: storage.k8s.io/v1
kind: CSINode
metadata: {name: ${GHOST}}
spec:
  drivers:
    - {name: quarry.csi.dev, nodeID: ${GHOST}, topologyKeys: []}
---
apiVersion: storage.k8s.io/v1
kind: VolumeAttachment
metadata: {name: e2e-ghost-attach}
spec:
  attacher: quarry.csi.dev
  nodeName: ${GHOST}
  source: {persistentVolumeName: ${pv}}
`,
    );
    const error = await eventually('the second attach to fail', 180, async () => {
      const va = await getJson(k, ['volumeattachment', 'e2e-ghost-attach']);
      assert.notEqual(va.status?.attached, true, 'the volume was attached to a second node');
      return va.status?.attachError?.message as string | undefined;
    });
    assert.match(error, /FailedPrecondition|FAILED_PRECONDITION|already/i);
    await k(['delete', 'volumeattachment', 'e2e-ghost-attach', '--wait=false']);
    await eventually('ghost VolumeAttachment gone', 120, async () =>
      (await exists(k, ['volumeattachment', 'e2e-ghost-attach'])) ? undefined : true,
    );
    await k(['delete', 'csinode,node', GHOST, '--ignore-not-found']);
  });

  // ModifyVolume through the central external-resizer (design: Volume attributes).
  test('a VolumeAttributesClass change thickens the volume (every block allocated), and back to thin gives them back', STORY, async () => {
    const size = 256 * 1024 * 1024;
    const vac = (name: string, provisioning: string) => `apiVersion: storage.k8s.io/v1
kind: VolumeAttributesClass
metadata: {name: ${name}}
driverName: quarry.csi.dev
parameters: {provisioning: ${provisioning}}
`;
    await apply(k, `${vac('e2e-thick', 'thick')}---\n${vac('e2e-thin', 'thin')}`);
    await apply(
      k,
      storageClassYaml('e2e-shared-thin', { pool: 'shared', 'csi.storage.k8s.io/fstype': 'ext4', provisioning: 'thin' }, 'shared'),
    );
    await apply(k, pvcYaml({ name: 'modified', storageClass: 'e2e-shared-thin', size: '256Mi', volumeAttributesClass: 'e2e-thin' }));
    const { handle } = await volumeHandleOf(k, 'modified');
    const image = join(c.poolDir, 'volumes', `${handle}.img`);
    const thin = await allocatedBytes(image);
    assert.ok(thin < size / 2, `a new thin image has ${thin} bytes allocated`);

    const switchTo = async (cls: string) => {
      await k(['patch', 'pvc', '-n', NS, 'modified', '--type=merge', '-p', JSON.stringify({ spec: { volumeAttributesClassName: cls } })]);
      await eventually(`PVC modified on class ${cls}`, 180, async () => {
        const pvc = await getJson(k, ['pvc', '-n', NS, 'modified']);
        const status = pvc.status?.modifyVolumeStatus;
        if (status?.status === 'Infeasible') throw new Error(`ModifyVolume infeasible: ${JSON.stringify(status)}`);
        return pvc.status?.currentVolumeAttributesClassName === cls ? true : undefined;
      });
    };
    await switchTo('e2e-thick');
    const thick = await allocatedBytes(image);
    assert.ok(thick >= size, `after the switch to thick only ${thick} of ${size} bytes are allocated`);
    // Not in use: the zeroed blocks are punched at once.
    await switchTo('e2e-thin');
    const back = await allocatedBytes(image);
    assert.ok(back < size / 2, `after the switch back to thin ${back} bytes are still allocated`);
    await deleteAndWait(k, 'pvc', 'modified');
    await eventually(`${image} removed`, 120, async () =>
      (await poolEntries(c.poolDir)).includes(`volumes/${handle}.img`) ? undefined : true,
    );
  });

  test('after the pod and the claim are deleted the volume detaches and the pool is empty', STORY, async () => {
    await deleteAndWait(k, 'pod', 'attached-pod');
    await deleteAndWait(k, 'pvc', 'attached');
    await eventually('no VolumeAttachment left', 180, async () =>
      (await k(['get', 'volumeattachments', '-o', 'name'])).trim() === '' ? true : undefined,
    );
    await eventually(`PV ${pv} deleted`, 180, async () => ((await exists(k, ['pv', pv])) ? undefined : true));
    assert.deepEqual(await poolEntries(c.poolDir), []);
    assert.deepEqual(await loopsOnPool(c.poolDir), []);
  });
});
