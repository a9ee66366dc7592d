// Installs Quarry into the e2e cluster from deploy/, through test/e2e/install/render.sh: the
// admin guide's kustomize/helm render plus only the patches this sandbox forces (that script
// names each patch and its reason). The snapshot CRDs and snapshot-controller come first.
import { execa } from 'execa';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO } from './cluster.js';
import { apply, eventually, getJson, type Kubectl } from './kubectl.js';

export type InstallKind = 'local' | 'shared' | 'helm-local';

/** The rendered YAML of one install (or of the snapshot support): what an admin would apply. */
export async function renderInstall(what: InstallKind): Promise<string> {
  return render(what);
}

async function render(what: string): Promise<string> {
  const r = await execa('bash', [join(REPO, 'test/e2e/install/render.sh'), what], { timeout: 600_000, reject: false });
  if (r.exitCode !== 0) throw new Error(`render.sh ${what}: ${r.stderr}`);
  return r.stdout;
}

/** The VolumeSnapshot and VolumeGroupSnapshot CRDs and a snapshot-controller; waits until the CRDs are served. */
export async function installSnapshotSupport(k: Kubectl): Promise<void> {
  await apply(k, await render('snapshot-crds'));
  await waitEstablished(k, [
    'crd/volumesnapshots.snapshot.storage.k8s.io',
    'crd/volumesnapshotcontents.snapshot.storage.k8s.io',
    'crd/volumesnapshotclasses.snapshot.storage.k8s.io',
    'crd/volumegroupsnapshots.groupsnapshot.storage.k8s.io',
    'crd/volumegroupsnapshotcontents.groupsnapshot.storage.k8s.io',
    'crd/volumegroupsnapshotclasses.groupsnapshot.storage.k8s.io',
  ]);
  await apply(k, await render('snapshot-controller'));
}

/** The stand-in PodMonitor CRD (test/e2e/install/podmonitor-crd.yaml), served before the chart's PodMonitor is applied. */
export async function installPodMonitorCrd(k: Kubectl): Promise<void> {
  await apply(k, await readFile(join(REPO, 'test/e2e/install/podmonitor-crd.yaml'), 'utf8'));
  await waitEstablished(k, ['crd/podmonitors.monitoring.coreos.com']);
}

/**
 * Waits until the CRDs are served. `kubectl wait` fails at once ("status.conditions accessor
 * error") on a CRD the API server has not given a status yet, so it is retried until it can wait.
 */
async function waitEstablished(k: Kubectl, crds: string[]): Promise<void> {
  await eventually(`CRDs established: ${crds.join(' ')}`, 90, async () => {
    await k(['wait', '--for=condition=Established', '--timeout=60s', ...crds]);
    return true;
  });
}

/** Applies the rendered install and waits until the node plugin and the controller are ready. */
export async function installQuarry(k: Kubectl, kind: InstallKind): Promise<void> {
  await apply(k, await render(kind));
  await waitReady(k);
}

/**
 * The namespace Quarry runs in: quarry-system for kustomize; for `helm install` without
 * --namespace, the release namespace the chart put its workloads in.
 */
export async function quarryNamespace(k: Kubectl): Promise<string> {
  const list = await getJson(k, ['daemonsets', '-A', '--field-selector', 'metadata.name=quarry-node']);
  const ns = (list.items as any[])[0]?.metadata.namespace;
  if (!ns) throw new Error('no quarry-node DaemonSet in any namespace');
  return ns;
}

export async function waitReady(k: Kubectl, seconds = 300): Promise<void> {
  const ns = await eventually('a quarry-node DaemonSet', 60, () => quarryNamespace(k));
  await eventually('quarry-node DaemonSet ready', seconds, async () => {
    const ds = await getJson(k, ['daemonset', '-n', ns, 'quarry-node']);
    const s = ds.status ?? {};
    return s.desiredNumberScheduled > 0 &&
      s.numberReady === s.desiredNumberScheduled &&
      s.updatedNumberScheduled === s.desiredNumberScheduled
      ? true
      : undefined;
  });
  await eventually('quarry-controller Deployment available', seconds, async () => {
    const d = await getJson(k, ['deployment', '-n', ns, 'quarry-controller']);
    return d.status?.availableReplicas > 0 && d.status?.unavailableReplicas === undefined ? true : undefined;
  });
  await eventually('CSINode lists quarry.csi.dev', seconds, async () => {
    const nodes = await getJson(k, ['csinode']);
    return (nodes.items as any[]).some((n) => (n.spec.drivers ?? []).some((d: any) => d.name === 'quarry.csi.dev')) ? true : undefined;
  });
}

/** Names and restart counts of every container in quarry-system: a crash-looping sidecar shows here. */
export async function restartCounts(k: Kubectl): Promise<Record<string, number>> {
  const pods = await getJson(k, ['pods', '-n', await quarryNamespace(k)]);
  const out: Record<string, number> = {};
  for (const p of pods.items as any[]) {
    for (const c of p.status?.containerStatuses ?? []) out[`${p.metadata.name}/${c.name}`] = c.restartCount;
  }
  return out;
}
