// PVCs, snapshots and one-shot pods for the stories. The node has no address the API server can
// dial for `kubectl logs`/`exec` on every machine, so a pod reports through its termination message
// (the last thing its script writes to /dev/termination-log) and the host checks the rest.
import { apply, eventsOf, eventually, exists, getJson, type Kubectl } from './kubectl.js';

export const NS = 'default';
/** Story pods run Quarry's own image: it has sh, coreutils and util-linux, and is already imported. */
export const TOOLBOX_IMAGE = process.env.E2E_QUARRY_IMAGE ?? 'ghcr.io/quarry-csi/quarry:0.1.0';

export interface PvcSpec {
  name: string;
  storageClass: string;
  size: string;
  block?: boolean;
  dataSource?: { kind: 'VolumeSnapshot' | 'PersistentVolumeClaim'; name: string };
  labels?: Record<string, string>;
  /** spec.volumeAttributesClassName (ModifyVolume, shared mode). */
  volumeAttributesClass?: string;
}

export function pvcYaml(p: PvcSpec): string {
  const source = p.dataSource
    ? `  dataSource:\n    kind: ${p.dataSource.kind}\n    name: ${p.dataSource.name}\n` +
      (p.dataSource.kind === 'VolumeSnapshot' ? '    apiGroup: snapshot.storage.k8s.io\n' : '')
    : '';
  return `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: ${p.name}, namespace: ${NS}, labels: ${JSON.stringify(p.labels ?? {})}}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: ${p.storageClass}${p.volumeAttributesClass ? `\n  volumeAttributesClassName: ${p.volumeAttributesClass}` : ''}
  volumeMode: ${p.block ? 'Block' : 'Filesystem'}
  resources: {requests: {storage: ${p.size}}}
${source}`;
}

export function storageClassYaml(name: string, params: Record<string, string>, mode: 'local' | 'shared'): string {
  const lines = Object.entries(params).map(([k, v]) => `  ${k}: "${v}"`);
  return `apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: ${name}}
provisioner: quarry.csi.dev
volumeBindingMode: ${mode === 'local' ? 'WaitForFirstConsumer' : 'Immediate'}
allowVolumeExpansion: true
reclaimPolicy: Delete
parameters:
${lines.join('\n')}
`;
}

export interface PodSpec {
  name: string;
  pvc: string;
  script: string;
  block?: boolean;
}

/** The pod every story runs: `script` in the toolbox, then exit; `attach` and `volumes` name its claims. */
function storyPodYaml(name: string, script: string, attach: string, volumes: string): string {
  return `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${NS}}
spec:
  restartPolicy: Never
  hostNetwork: true
  terminationGracePeriodSeconds: 1
  containers:
    - name: story
      image: ${TOOLBOX_IMAGE}
      imagePullPolicy: Never
      command: ["/bin/sh", "-ec", ${JSON.stringify(script)}]
${attach}
${volumes}
`;
}

/** A pod that runs `script` with the volume at /data (or the device at /dev/quarry-vol) and exits. */
export function podYaml(p: PodSpec): string {
  const attach = p.block
    ? `      volumeDevices: [{name: vol, devicePath: /dev/quarry-vol}]`
    : `      volumeMounts: [{name: vol, mountPath: /data}]`;
  return storyPodYaml(p.name, p.script, attach, `  volumes:\n    - name: vol\n      persistentVolumeClaim: {claimName: ${p.pvc}}`);
}

/** Applies the pod and waits until it has finished; returns its termination message, or throws with why it failed. */
export async function runPod(k: Kubectl, p: PodSpec, seconds = 240): Promise<string> {
  await apply(k, podYaml(p));
  return waitPodDone(k, p.name, seconds);
}

export async function waitPodDone(k: Kubectl, name: string, seconds = 240): Promise<string> {
  const pod = await eventually(`pod ${name} to finish`, seconds, async () => {
    const pod = await getJson(k, ['pod', '-n', NS, name]);
    return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed' ? pod : undefined;
  }).catch(async (e) => {
    throw new Error(`${(e as Error).message}\nevents: ${(await eventsOf(k, NS, name)).join('\n  ')}`);
  });
  const term = pod.status.containerStatuses?.[0]?.state?.terminated;
  if (pod.status.phase !== 'Succeeded') {
    throw new Error(`pod ${name} failed: exit ${term?.exitCode} ${term?.reason}: ${term?.message ?? ''}`);
  }
  return String(term?.message ?? '').trim();
}

export async function waitPodRunning(k: Kubectl, name: string, seconds = 240): Promise<any> {
  return eventually(`pod ${name} running`, seconds, async () => {
    const pod = await getJson(k, ['pod', '-n', NS, name]);
    if (pod.status?.phase === 'Failed' || pod.status?.phase === 'Succeeded') {
      throw new Error(`pod ${name} ended: ${JSON.stringify(pod.status.containerStatuses?.[0]?.state)}`);
    }
    return pod.status?.phase === 'Running' ? pod : undefined;
  });
}

export async function deleteAndWait(k: Kubectl, kind: string, name: string, seconds = 180): Promise<void> {
  await k(['delete', kind, '-n', NS, name, '--ignore-not-found', '--wait=false']);
  await eventually(`${kind} ${name} gone`, seconds, async () => ((await exists(k, [kind, '-n', NS, name])) ? undefined : true));
}

export async function pvcBound(k: Kubectl, name: string, seconds = 180): Promise<any> {
  return eventually(`pvc ${name} Bound`, seconds, async () => {
    const pvc = await getJson(k, ['pvc', '-n', NS, name]);
    return pvc.status?.phase === 'Bound' ? pvc : undefined;
  });
}

export async function volumeHandleOf(k: Kubectl, pvc: string): Promise<{ pv: string; handle: string }> {
  const claim = await pvcBound(k, pvc);
  const pv = await getJson(k, ['pv', claim.spec.volumeName]);
  return { pv: pv.metadata.name, handle: pv.spec.csi.volumeHandle };
}

export function snapshotYaml(name: string, pvc: string, cls = 'quarry'): string {
  return `apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshot
metadata: {name: ${name}, namespace: ${NS}}
spec:
  volumeSnapshotClassName: ${cls}
  source: {persistentVolumeClaimName: ${pvc}}
`;
}

/** A pod with several claims, claim i at /data<i> (from 0); like podYaml otherwise. */
export function multiVolumePodYaml(name: string, pvcs: string[], script: string): string {
  const mounts = pvcs.map((_, i) => ({ name: `vol${i}`, mountPath: `/data${i}` }));
  const volumes = pvcs.map((claimName, i) => ({ name: `vol${i}`, persistentVolumeClaim: { claimName } }));
  return storyPodYaml(name, script, `      volumeMounts: ${JSON.stringify(mounts)}`, `  volumes: ${JSON.stringify(volumes)}`);
}

/** A VolumeGroupSnapshot of every claim in NS with these labels. */
export function groupSnapshotYaml(name: string, matchLabels: Record<string, string>, cls = 'quarry'): string {
  return `apiVersion: groupsnapshot.storage.k8s.io/v1
kind: VolumeGroupSnapshot
metadata: {name: ${name}, namespace: ${NS}}
spec:
  volumeGroupSnapshotClassName: ${cls}
  source:
    selector: {matchLabels: ${JSON.stringify(matchLabels)}}
`;
}
