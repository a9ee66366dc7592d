// Checks the install manifests rendered by test/deploy/render.sh into
// dist/deploy/: both kustomize overlays and the Helm chart in both modes.
//
// Run `bash test/deploy/render.sh` first. Without dist/deploy the tests are
// skipped locally and FAIL under CI (CI is set), so a CI that forgets the
// render step cannot pass silently.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { MUTABLE_KEYS } from '../../src/services/controller/mutable-parameters.js';

// dist/test/unit/deploy-render.test.js -> repo root
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const RENDERED = path.join(ROOT, 'dist', 'deploy');
const EXAMPLES = path.join(ROOT, 'deploy', 'kubernetes', 'examples');
// The driver's flag parser, compiled next to this test.
const CLI_CONFIG = new URL('../../src/cli/config.js', import.meta.url).href;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;
type Mode = 'local' | 'shared';

const RENDERINGS: Record<string, Mode> = {
  'kustomize-local.yaml': 'local',
  'kustomize-default.yaml': 'local',
  'kustomize-shared.yaml': 'shared',
  'helm-local.yaml': 'local',
  'helm-shared.yaml': 'shared',
  'helm-extras.yaml': 'local',
};
/** The kubelet root each rendering was made for (render.sh sets kubeletDir for the extras). */
const KUBELET_DIR: Record<string, string> = { 'helm-extras.yaml': '/var/lib/k0s/kubelet' };
const kubeletDirOf = (file: string): string => KUBELET_DIR[file] ?? '/var/lib/kubelet';

const missing = Object.keys(RENDERINGS).filter((f) => !existsSync(path.join(RENDERED, f)));
const skipReason = missing.length > 0 ? `dist/deploy is missing ${missing.join(', ')}: run \`bash test/deploy/render.sh\` first` : false;

if (missing.length > 0 && process.env.CI) {
  test('rendered deploy manifests exist (CI runs test/deploy/render.sh first)', () => {
    assert.fail(String(skipReason));
  });
}

function loadYaml(file: string): Obj[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  const out: Obj[] = [];
  for (const d of docs) {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0]!.message}`);
    const v = d.toJS() as Obj | null;
    if (v && typeof v === 'object') out.push(v);
  }
  return out;
}

const load = (name: string): Obj[] => loadYaml(path.join(RENDERED, name));
const ofKind = (objs: Obj[], kind: string): Obj[] => objs.filter((o) => o.kind === kind);
const one = (objs: Obj[], kind: string, name: string): Obj => {
  const found = objs.filter((o) => o.kind === kind && o.metadata?.name === name);
  assert.equal(found.length, 1, `expected exactly one ${kind}/${name}, found ${found.length}`);
  return found[0]!;
};
const workloads = (objs: Obj[]): Obj[] => objs.filter((o) => o.kind === 'DaemonSet' || o.kind === 'Deployment');
const containersOf = (w: Obj): Obj[] => w.spec.template.spec.containers as Obj[];
const args = (c: Obj | undefined): string[] => (c?.args ?? []) as string[];
const flag = (c: Obj | undefined, name: string): string | undefined => {
  for (const a of args(c)) {
    if (a === `--${name}`) return 'true';
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return undefined;
};
const flagOn = (c: Obj | undefined, name: string): boolean => {
  const v = flag(c, name);
  return v !== undefined && v !== 'false';
};
const wname = (w: Obj): string => `${w.kind}/${w.metadata.name}`;

// The sidecars Quarry runs, recognised by image.
const SIDECARS = {
  provisioner: { image: 'registry.k8s.io/sig-storage/csi-provisioner', major: 'v6.' },
  attacher: { image: 'registry.k8s.io/sig-storage/csi-attacher', major: 'v4.' },
  resizer: { image: 'registry.k8s.io/sig-storage/csi-resizer', major: 'v2.' },
  snapshotter: { image: 'registry.k8s.io/sig-storage/csi-snapshotter', major: 'v8.' },
  registrar: { image: 'registry.k8s.io/sig-storage/csi-node-driver-registrar', major: 'v2.' },
  livenessprobe: { image: 'registry.k8s.io/sig-storage/livenessprobe', major: 'v2.' },
} as const;
type Sidecar = keyof typeof SIDECARS;
const QUARRY_IMAGE = /^([a-z0-9.-]+(:\d+)?\/)?quarry-csi\/quarry[:@]/;

function imageRepo(image: string): string {
  const noDigest = image.split('@')[0]!;
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > slash ? noDigest.slice(0, colon) : noDigest;
}
function sidecarOf(c: Obj): Sidecar | undefined {
  const repo = imageRepo(String(c.image));
  return (Object.keys(SIDECARS) as Sidecar[]).find((k) => SIDECARS[k].image === repo);
}
const isQuarry = (c: Obj): boolean => QUARRY_IMAGE.test(String(c.image));

// Rules each sidecar documents in its deploy/kubernetes/rbac.yaml for the
// pinned release (ns: namespaced rules, which may come from a Role).
interface Rule {
  group: string;
  resource: string;
  verbs: string[];
  ns?: boolean;
}
const r = (group: string, resource: string, verbs: string, ns = false): Rule => ({
  group,
  resource,
  verbs: verbs.split(' '),
  ns,
});
const REQUIRED: Record<Sidecar, Rule[]> = {
  provisioner: [
    r('', 'persistentvolumes', 'get list watch create patch delete'),
    r('', 'persistentvolumeclaims', 'get list watch update'),
    r('storage.k8s.io', 'storageclasses', 'get list watch'),
    r('', 'events', 'list watch create update patch'),
    r('snapshot.storage.k8s.io', 'volumesnapshots', 'get list watch update'),
    r('snapshot.storage.k8s.io', 'volumesnapshotcontents', 'get list'),
    r('storage.k8s.io', 'csinodes', 'get list watch'),
    r('', 'nodes', 'get list watch'),
    r('storage.k8s.io', 'volumeattachments', 'get list watch'),
    r('storage.k8s.io', 'volumeattributesclasses', 'get list watch'),
  ],
  attacher: [
    r('', 'persistentvolumes', 'get list watch patch'),
    r('storage.k8s.io', 'csinodes', 'get list watch'),
    r('storage.k8s.io', 'volumeattachments', 'get list watch patch'),
    r('storage.k8s.io', 'volumeattachments/status', 'patch'),
  ],
  resizer: [
    r('', 'persistentvolumes', 'get list watch patch'),
    r('', 'persistentvolumeclaims', 'get list watch'),
    r('', 'persistentvolumeclaims/status', 'patch'),
    r('', 'events', 'list watch create update patch'),
    r('storage.k8s.io', 'volumeattributesclasses', 'get list watch'),
  ],
  snapshotter: [
    r('', 'events', 'list watch create update patch'),
    r('snapshot.storage.k8s.io', 'volumesnapshotclasses', 'get list watch'),
    r('snapshot.storage.k8s.io', 'volumesnapshotcontents', 'create get list watch update delete patch'),
    r('snapshot.storage.k8s.io', 'volumesnapshotcontents/status', 'update patch'),
  ],
  registrar: [],
  livenessprobe: [],
};
const LEADER_ELECTION = [r('coordination.k8s.io', 'leases', 'get watch list delete update create', true)];
const CAPACITY = [
  r('storage.k8s.io', 'csistoragecapacities', 'get list watch create update patch delete', true),
  r('', 'pods', 'get', true),
];

function requiredRules(sidecar: Sidecar, c: Obj): Rule[] {
  const rules = [...REQUIRED[sidecar]];
  if (flagOn(c, 'leader-election')) rules.push(...LEADER_ELECTION);
  // Only a resizer that handles "volume in use" errors watches pods.
  if (sidecar === 'resizer' && flag(c, 'handle-volume-inuse-error') !== 'false') rules.push(r('', 'pods', 'get list watch'));
  if (flagOn(c, 'enable-capacity')) {
    rules.push(...CAPACITY);
    const level = Number(flag(c, 'capacity-ownerref-level') ?? '1');
    // pod -> ReplicaSet -> Deployment needs the ReplicaSet read.
    if (level >= 2) rules.push(r('apps', 'replicasets', 'get', true));
  }
  return rules;
}

interface Grant {
  rules: Obj[];
  clusterWide: boolean;
}
function grantsFor(objs: Obj[], ns: string, sa: string): Grant[] {
  const isSubject = (b: Obj): boolean =>
    ((b.subjects ?? []) as Obj[]).some((s) => s.kind === 'ServiceAccount' && s.name === sa && s.namespace === ns);
  const roleRules = (kind: string, name: string, roleNs?: string): Obj[] => {
    const role = objs.find(
      (o) => o.kind === kind && o.metadata.name === name && (kind === 'ClusterRole' || o.metadata.namespace === roleNs),
    );
    assert.ok(role, `binding refers to missing ${kind}/${name}`);
    return (role.rules ?? []) as Obj[];
  };
  const grants: Grant[] = [];
  for (const b of ofKind(objs, 'ClusterRoleBinding').filter(isSubject)) {
    grants.push({ rules: roleRules(b.roleRef.kind, b.roleRef.name), clusterWide: true });
  }
  for (const b of ofKind(objs, 'RoleBinding').filter(isSubject)) {
    if (b.metadata.namespace !== ns) continue;
    grants.push({ rules: roleRules(b.roleRef.kind, b.roleRef.name, b.metadata.namespace), clusterWide: false });
  }
  return grants;
}
function covered(grants: Grant[], need: Rule): string[] {
  const have = new Set<string>();
  for (const g of grants) {
    if (!need.ns && !g.clusterWide) continue;
    for (const rule of g.rules) {
      if (!(rule.apiGroups as string[]).includes(need.group)) continue;
      if (!(rule.resources as string[]).includes(need.resource)) continue;
      for (const v of rule.verbs as string[]) have.add(v);
    }
  }
  return need.verbs.filter((v) => !have.has(v));
}

function checkRendering(file: string, mode: Mode): void {
  const objs = load(file);

  test('every object parses and the workloads exist', () => {
    assert.ok(objs.length > 0);
    one(objs, 'DaemonSet', 'quarry-node');
    one(objs, 'Deployment', 'quarry-controller');
    assert.equal(ofKind(objs, 'CSIDriver').length, 1);
  });

  const nsName = 'quarry-system';
  const kubeletDir = kubeletDirOf(file);
  const isKustomize = file.startsWith('kustomize-');
  const driver = ofKind(objs, 'CSIDriver')[0]!;
  const driverName = driver.metadata.name as string;

  test(
    isKustomize
      ? 'kustomize creates the namespace, which allows privileged pods through Pod Security Admission'
      : 'helm creates no Namespace: everything goes into the release namespace',
    () => {
      const namespaces = ofKind(objs, 'Namespace');
      if (isKustomize) {
        assert.equal(one(objs, 'Namespace', nsName).metadata.labels['pod-security.kubernetes.io/enforce'], 'privileged');
      } else {
        assert.deepEqual(namespaces, [], 'a chart-made Namespace conflicts with `helm install -n NS --create-namespace`');
      }
      for (const o of objs) {
        if (o.metadata?.namespace !== undefined) assert.equal(o.metadata.namespace, nsName, `${o.kind}/${o.metadata.name}`);
      }
    },
  );

  test('every image is pinned by tag or digest, never latest', () => {
    for (const w of workloads(objs)) {
      for (const c of [...containersOf(w), ...((w.spec.template.spec.initContainers ?? []) as Obj[])]) {
        const image = String(c.image);
        const m = /^(?<name>[^@\s]+?)(?::(?<tag>[\w][\w.-]{0,127}))?(?:@(?<digest>sha256:[a-f0-9]{64}))?$/.exec(image);
        assert.ok(m, `${wname(w)} ${c.name}: malformed image ${image}`);
        assert.ok(m.groups!.tag || m.groups!.digest, `${wname(w)} ${c.name}: ${image} has neither tag nor digest`);
        assert.notEqual(m.groups!.tag, 'latest', `${wname(w)} ${c.name}: ${image} uses latest`);
        const sc = sidecarOf(c);
        if (sc) assert.ok(m.groups!.tag?.startsWith(SIDECARS[sc].major), `${image}: expected ${SIDECARS[sc].major}x`);
        else assert.ok(isQuarry(c), `${wname(w)} ${c.name}: unknown image ${image}`);
      }
    }
  });

  test('every container has resource requests and limits; the node plugin has no CPU limit unless asked', () => {
    const nodePlugin = containersOf(one(objs, 'DaemonSet', 'quarry-node')).find(isQuarry)!;
    for (const w of workloads(objs)) {
      for (const c of containersOf(w)) {
        const res = c.resources ?? {};
        for (const k of ['cpu', 'memory']) {
          assert.ok(res.requests?.[k], `${wname(w)} ${c.name}: no ${k} request`);
          // The node plugin's children (mkfs, cp, e2fsck) must not be throttled by a default CPU limit.
          if (k === 'cpu' && c === nodePlugin) continue;
          assert.ok(res.limits?.[k], `${wname(w)} ${c.name}: no ${k} limit`);
        }
      }
    }
    if (file === 'helm-extras.yaml') assert.equal(nodePlugin.resources.limits.cpu, 2, 'a CPU limit can be set');
    else assert.equal(nodePlugin.resources.limits?.cpu, undefined, 'no CPU limit on the node plugin by default');
  });

  test('least privilege: the API token only in containers that call the API', () => {
    const callsApi = new Set<Sidecar>(['provisioner', 'attacher', 'resizer', 'snapshotter']);
    for (const w of workloads(objs)) {
      const pod = w.spec.template.spec;
      assert.equal(pod.automountServiceAccountToken, false, `${wname(w)}: no token mounted into every container`);
      const tokenVolumes = ((pod.volumes ?? []) as Obj[]).filter((v) => v.projected?.sources?.some((x: Obj) => x.serviceAccountToken));
      for (const c of containersOf(w)) {
        const mountsToken = ((c.volumeMounts ?? []) as Obj[]).some(
          (m) => tokenVolumes.some((v) => v.name === m.name) && m.mountPath === '/var/run/secrets/kubernetes.io/serviceaccount',
        );
        const sc = sidecarOf(c);
        // The quarry container calls the API only to label imported snapshots (local mode).
        const calls = (sc !== undefined && callsApi.has(sc)) || (isQuarry(c) && flagOn(c, 'label-imported-snapshots'));
        assert.equal(mountsToken, calls, `${wname(w)} ${c.name}: token mounted=${mountsToken}`);
      }
    }
  });

  test('least privilege: unprivileged containers drop all capabilities and use the RuntimeDefault seccomp profile', () => {
    for (const w of workloads(objs)) {
      for (const c of containersOf(w)) {
        if (c.securityContext?.privileged === true) continue;
        assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL'], `${wname(w)} ${c.name}`);
        assert.equal(c.securityContext?.seccompProfile?.type, 'RuntimeDefault', `${wname(w)} ${c.name}`);
        assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${wname(w)} ${c.name}`);
      }
    }
  });

  test('least privilege: csi-resizer does not handle in-use errors, and nothing lets it watch pods', () => {
    for (const w of workloads(objs)) {
      for (const c of containersOf(w).filter((x) => sidecarOf(x) === 'resizer')) {
        assert.equal(flag(c, 'handle-volume-inuse-error'), 'false', 'Quarry expands online');
        const grants = grantsFor(objs, w.metadata.namespace ?? nsName, w.spec.template.spec.serviceAccountName);
        const podWatch = grants.some(
          (g) =>
            g.clusterWide &&
            g.rules.some(
              (rule: Obj) =>
                (rule.apiGroups ?? []).includes('') && (rule.resources ?? []).includes('pods') && (rule.verbs ?? []).includes('watch'),
            ),
        );
        assert.equal(podWatch, false, `${wname(w)}: the resizer's service account may watch pods cluster-wide`);
      }
    }
  });

  test('observability: every sidecar serves its HTTP endpoint on a named container port', () => {
    for (const w of workloads(objs)) {
      for (const c of containersOf(w)) {
        if (isQuarry(c)) continue;
        const endpoint = flag(c, 'http-endpoint');
        assert.ok(endpoint, `${wname(w)} ${c.name}: no --http-endpoint`);
        const port = Number(endpoint.slice(endpoint.lastIndexOf(':') + 1));
        const declared = ((c.ports ?? []) as Obj[]).find((p) => p.containerPort === port);
        // The livenessprobe sidecar's port is declared on the quarry container it probes.
        const owner = sidecarOf(c) === 'livenessprobe' ? containersOf(w).find(isQuarry)! : c;
        const ports = (owner.ports ?? []) as Obj[];
        assert.ok(declared ?? ports.find((p) => p.containerPort === port), `${wname(w)} ${c.name}: port ${port} not declared`);
      }
    }
  });

  test('the driver and every sidecar agree on the socket path', () => {
    for (const w of workloads(objs)) {
      const cs = containersOf(w);
      const quarry = cs.filter(isQuarry);
      assert.equal(quarry.length, 1, `${wname(w)}: one quarry container`);
      const endpoint = flag(quarry[0], 'endpoint');
      assert.ok(endpoint?.startsWith('unix:///'), `${wname(w)}: --endpoint ${endpoint}`);
      const socket = endpoint!.slice('unix://'.length);
      const dir = path.posix.dirname(socket);
      const volumeAt = (c: Obj, mountPath: string): string | undefined =>
        ((c.volumeMounts ?? []) as Obj[]).find((m) => m.mountPath === mountPath)?.name;
      const driverVolume = volumeAt(quarry[0]!, dir);
      assert.ok(driverVolume, `${wname(w)}: quarry does not mount ${dir}`);
      for (const c of cs) {
        if (isQuarry(c)) continue;
        assert.equal(flag(c, 'csi-address'), socket, `${wname(w)} ${c.name}: --csi-address`);
        assert.equal(volumeAt(c, dir), driverVolume, `${wname(w)} ${c.name}: must mount ${driverVolume} at ${dir}`);
      }
    }
  });

  test('registrar --kubelet-registration-path is the socket in the plugin hostPath', () => {
    const ds = one(objs, 'DaemonSet', 'quarry-node');
    const reg = containersOf(ds).find((c) => sidecarOf(c) === 'registrar');
    assert.ok(reg, 'node DaemonSet runs node-driver-registrar');
    const quarry = containersOf(ds).find(isQuarry)!;
    const socket = flag(quarry, 'endpoint')!.slice('unix://'.length);
    const mount = (quarry.volumeMounts as Obj[]).find((m) => m.mountPath === path.posix.dirname(socket))!;
    const vol = (ds.spec.template.spec.volumes as Obj[]).find((v) => v.name === mount.name)!;
    assert.ok(vol.hostPath, 'the plugin directory is a hostPath');
    const hostDir = String(vol.hostPath.path).replace(/\/+$/, '');
    assert.equal(hostDir, `${kubeletDir}/plugins/${driverName}`);
    assert.equal(flag(reg, 'kubelet-registration-path'), `${hostDir}/${path.posix.basename(socket)}`);
    const regDir = (ds.spec.template.spec.volumes as Obj[]).find(
      (v) => v.name === (reg.volumeMounts as Obj[]).find((m) => m.mountPath === '/registration')?.name,
    );
    assert.equal(String(regDir?.hostPath?.path).replace(/\/+$/, ''), `${kubeletDir}/plugins_registry`);
    if (kubeletDir !== '/var/lib/kubelet') {
      assert.ok(!JSON.stringify(objs).includes('/var/lib/kubelet'), `kubeletDir ${kubeletDir} reaches every path`);
    }
  });

  test('node plugin refuses staging and target paths outside the kubelet dir it is deployed for', () => {
    const quarry = containersOf(one(objs, 'DaemonSet', 'quarry-node')).find(isQuarry);
    assert.equal(flag(quarry, 'kubelet-dir'), kubeletDir, '--kubelet-dir of the node plugin');
  });

  test('node plugin: kubelet dir Bidirectional, /dev mounted, only it privileged', () => {
    const ds = one(objs, 'DaemonSet', 'quarry-node');
    const quarry = containersOf(ds).find(isQuarry)!;
    const mounts = quarry.volumeMounts as Obj[];
    const kubelet = mounts.find((m) => m.mountPath === kubeletDir);
    assert.equal(kubelet?.mountPropagation, 'Bidirectional');
    assert.ok(
      mounts.some((m) => m.mountPath === '/dev'),
      '/dev mounted for loop devices',
    );
    for (const w of workloads(objs)) {
      for (const c of containersOf(w)) {
        const privileged = c.securityContext?.privileged === true;
        assert.equal(privileged, w === ds && c === quarry, `${wname(w)} ${c.name}: privileged=${privileged}`);
        if (!privileged) assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${wname(w)} ${c.name}`);
        for (const m of (c.volumeMounts ?? []) as Obj[]) {
          if (m.mountPropagation === 'Bidirectional') assert.ok(privileged, `${c.name}: Bidirectional needs privileged`);
        }
      }
    }
  });

  test('liveness: quarry probes /healthz on the port the livenessprobe sidecar serves', () => {
    for (const w of workloads(objs)) {
      const quarry = containersOf(w).find(isQuarry)!;
      const lp = containersOf(w).find((c) => sidecarOf(c) === 'livenessprobe');
      assert.ok(lp, `${wname(w)}: livenessprobe sidecar`);
      const probe = quarry.livenessProbe?.httpGet;
      assert.equal(probe?.path, '/healthz');
      assert.equal(probe?.port, 'healthz');
      const port = (quarry.ports as Obj[]).find((p) => p.name === 'healthz')?.containerPort;
      const served = flag(lp, 'http-endpoint') ?? `:${flag(lp, 'health-port') ?? '9808'}`;
      assert.equal(served, `:${port}`, `${wname(w)}: livenessprobe serves ${served}, quarry declares ${port}`);
      const ports = containersOf(w).flatMap((c) => ((c.ports ?? []) as Obj[]).map((p) => p.containerPort));
      assert.equal(new Set(ports).size, ports.length, `${wname(w)}: duplicate container ports`);
    }
  });

  test('quarry flags: driver name, node id from the downward API, pools', () => {
    const ds = one(objs, 'DaemonSet', 'quarry-node');
    const dep = one(objs, 'Deployment', 'quarry-controller');
    const qn = containersOf(ds).find(isQuarry)!;
    const qc = containersOf(dep).find(isQuarry)!;
    for (const q of [qn, qc]) assert.equal(flag(q, 'drivername'), driverName);
    assert.equal(flag(qn, 'nodeid'), '$(NODE_NAME)');
    const env = (qn.env as Obj[]).find((e) => e.name === 'NODE_NAME');
    assert.equal(env?.valueFrom?.fieldRef?.fieldPath, 'spec.nodeName');
    assert.ok(
      args(qn).some((a) => a.startsWith('--pool=')),
      'the node plugin has a pool',
    );
    if (mode === 'local') {
      assert.equal(args(qn)[0], 'all');
      assert.equal(args(qc)[0], 'controller');
      assert.ok(!args(qc).some((a) => a.startsWith('--pool')), 'local controller holds no pool');
      assert.ok(!args(qc).includes('--shared'));
    } else {
      assert.deepEqual(args(qn).slice(0, 2), ['node', '--shared']);
      assert.deepEqual(args(qc).slice(0, 2), ['controller', '--shared']);
      assert.equal(
        args(qc).find((a) => a.startsWith('--pool=')),
        args(qn).find((a) => a.startsWith('--pool=')),
        'controller and nodes use the same shared pool',
      );
    }
  });

  test('quarry arguments are accepted by the CLI flag parser', async (t) => {
    let parseConfig: ((role: string, argv: string[]) => unknown) | undefined;
    try {
      ({ parseConfig } = (await import(CLI_CONFIG)) as { parseConfig: typeof parseConfig });
    } catch (err) {
      t.skip(`the CLI flag parser is not built (${(err as Error).message})`);
      return;
    }
    for (const w of workloads(objs)) {
      const q = containersOf(w).find(isQuarry)!;
      const [role, ...rest] = args(q);
      const argv = rest.map((a) => a.replace('$(NODE_NAME)', 'node-1'));
      assert.doesNotThrow(() => parseConfig!(role!, argv), `${wname(w)}: quarry ${args(q).join(' ')}`);
    }
  });

  test(`the ${mode} mode runs the right sidecars with the right flags`, () => {
    const ds = one(objs, 'DaemonSet', 'quarry-node');
    const dep = one(objs, 'Deployment', 'quarry-controller');
    const kinds = (w: Obj): string[] =>
      containersOf(w)
        .map((c) => (isQuarry(c) ? 'quarry' : sidecarOf(c)!))
        .sort();
    if (mode === 'local') {
      assert.deepEqual(kinds(ds), ['livenessprobe', 'provisioner', 'quarry', 'registrar', 'snapshotter']);
      assert.deepEqual(kinds(dep), ['livenessprobe', 'quarry', 'resizer']);
      const prov = containersOf(ds).find((c) => sidecarOf(c) === 'provisioner')!;
      for (const f of ['node-deployment', 'strict-topology', 'enable-capacity', 'extra-create-metadata']) {
        assert.ok(flagOn(prov, f), `provisioner --${f}`);
      }
      assert.equal(flag(prov, 'capacity-ownerref-level'), '1', 'owner of CSIStorageCapacity is the DaemonSet');
      assert.ok(!flagOn(prov, 'leader-election'), 'no leader election per node');
      const envs = new Map(((prov.env ?? []) as Obj[]).map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
      assert.equal(envs.get('NODE_NAME'), 'spec.nodeName');
      assert.equal(envs.get('POD_NAME'), 'metadata.name');
      assert.equal(envs.get('NAMESPACE'), 'metadata.namespace');
      const snap = containersOf(ds).find((c) => sidecarOf(c) === 'snapshotter')!;
      assert.ok(flagOn(snap, 'node-deployment'), 'snapshotter --node-deployment');
      assert.ok(
        ((snap.env ?? []) as Obj[]).some((e) => e.name === 'NODE_NAME'),
        'snapshotter NODE_NAME',
      );
      const resizer = containersOf(dep).find((c) => sidecarOf(c) === 'resizer')!;
      assert.ok(flagOn(resizer, 'leader-election'), 'resizer leader election (replicas may be > 1)');
    } else {
      assert.deepEqual(kinds(ds), ['livenessprobe', 'quarry', 'registrar']);
      assert.deepEqual(kinds(dep), ['attacher', 'livenessprobe', 'provisioner', 'quarry', 'resizer', 'snapshotter']);
      for (const c of containersOf(dep)) {
        const sc = sidecarOf(c);
        if (sc && sc !== 'livenessprobe') assert.ok(flagOn(c, 'leader-election'), `${c.name} leader election`);
      }
      const prov = containersOf(dep).find((c) => sidecarOf(c) === 'provisioner')!;
      assert.ok(!flagOn(prov, 'node-deployment'));
    }
  });

  test(`CSIDriver fields match the ${mode} mode`, () => {
    const spec = driver.spec;
    assert.equal(spec.attachRequired, mode === 'shared');
    assert.equal(spec.storageCapacity, mode === 'local');
    assert.equal(spec.podInfoOnMount, false);
    assert.equal(spec.fsGroupPolicy, 'File');
    assert.equal(spec.requiresRepublish, false);
    assert.deepEqual(spec.volumeLifecycleModes, ['Persistent']);
  });

  test('CSIDriver: seLinuxMount, so SELinux nodes mount with -o context= instead of relabelling', () => {
    assert.equal(driver.spec.seLinuxMount, true);
  });

  test('referenced ServiceAccounts exist; bindings point at existing subjects and roles', () => {
    const sas = new Set(ofKind(objs, 'ServiceAccount').map((s) => `${s.metadata.namespace}/${s.metadata.name}`));
    const perWorkload = new Set<string>();
    for (const w of workloads(objs)) {
      const sa = w.spec.template.spec.serviceAccountName as string;
      assert.ok(sa, `${wname(w)}: serviceAccountName`);
      assert.ok(sas.has(`${w.metadata.namespace}/${sa}`), `${wname(w)}: ServiceAccount ${sa} missing`);
      assert.ok(!perWorkload.has(sa), `${sa} shared by two workloads`);
      perWorkload.add(sa);
    }
    for (const b of [...ofKind(objs, 'ClusterRoleBinding'), ...ofKind(objs, 'RoleBinding')]) {
      for (const s of b.subjects as Obj[]) assert.ok(sas.has(`${s.namespace}/${s.name}`), `${b.metadata.name}: ${s.name}`);
      grantsFor(objs, nsName, (b.subjects as Obj[])[0]!.name); // asserts that the roleRefs exist
    }
    for (const role of [...ofKind(objs, 'ClusterRole'), ...ofKind(objs, 'Role')]) {
      for (const rule of role.rules as Obj[]) {
        assert.ok(!(rule.verbs as string[]).includes('*'), `${role.metadata.name}: wildcard verb`);
        assert.ok(!(rule.resources as string[]).includes('*'), `${role.metadata.name}: wildcard resource`);
        assert.ok(!(rule.resources as string[]).includes('secrets'), `${role.metadata.name}: Quarry needs no secrets`);
      }
    }
  });

  test('imported snapshots: in local mode the node plugin labels them and may get, list, watch and patch the contents', () => {
    const ds = one(objs, 'DaemonSet', 'quarry-node');
    const quarry = containersOf(ds).find(isQuarry)!;
    assert.equal(flagOn(quarry, 'label-imported-snapshots'), mode === 'local', `${file}: --label-imported-snapshots`);
    if (mode !== 'local') return;
    const grants = grantsFor(objs, ds.metadata.namespace, ds.spec.template.spec.serviceAccountName);
    const need: Rule = {
      group: 'snapshot.storage.k8s.io',
      resource: 'volumesnapshotcontents',
      verbs: ['get', 'list', 'watch', 'patch'],
      ns: false,
    };
    assert.deepEqual(covered(grants, need), [], 'the node service account lacks these verbs on volumesnapshotcontents');
    const group: Rule = { group: 'groupsnapshot.storage.k8s.io', resource: 'volumegroupsnapshotcontents', verbs: need.verbs, ns: false };
    assert.deepEqual(covered(grants, group), [], 'the node service account lacks these verbs on volumegroupsnapshotcontents');
  });

  test("RBAC covers each sidecar's documented rules", () => {
    for (const w of workloads(objs)) {
      const sa = w.spec.template.spec.serviceAccountName as string;
      const grants = grantsFor(objs, w.metadata.namespace, sa);
      for (const c of containersOf(w)) {
        const sc = sidecarOf(c);
        if (!sc) continue;
        for (const need of requiredRules(sc, c)) {
          const lacking = covered(grants, need);
          assert.deepEqual(
            lacking,
            [],
            `${wname(w)} ${c.name} (${sa}) lacks ${lacking.join(',')} on ${need.group || 'core'}/${need.resource}`,
          );
        }
      }
      const apiClients = containersOf(w).filter((c) => {
        const sc = sidecarOf(c);
        return sc !== undefined && sc !== 'livenessprobe' && sc !== 'registrar';
      });
      if (apiClients.length === 0) {
        assert.deepEqual(grants, [], `${wname(w)}: ${sa} runs no API client and needs no grants`);
      }
    }
  });
}

describe('rendered deploy manifests', { skip: skipReason }, () => {
  for (const [file, mode] of Object.entries(RENDERINGS)) {
    describe(`${file} (${mode})`, () => checkRendering(file, mode));
  }

  test('the top-level kustomization is the local overlay', () => {
    assert.deepEqual(load('kustomize-default.yaml'), load('kustomize-local.yaml'));
  });

  const summary = (objs: Obj[]) => ({
    objects: objs.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`).sort(),
    csidriver: ofKind(objs, 'CSIDriver')[0]?.spec,
    workloads: Object.fromEntries(
      workloads(objs).map((w) => [
        wname(w),
        {
          serviceAccount: w.spec.template.spec.serviceAccountName,
          replicas: w.spec.replicas,
          containers: containersOf(w)
            .map((c) => ({
              name: c.name,
              image: c.image,
              args: c.args,
              env: c.env ?? [],
              securityContext: c.securityContext,
              resources: c.resources,
              ports: c.ports ?? [],
              livenessProbe: c.livenessProbe,
              volumeMounts: [...((c.volumeMounts ?? []) as Obj[])].sort((a, b) => a.mountPath.localeCompare(b.mountPath)),
            }))
            .sort((a, b) => a.name.localeCompare(b.name)),
          volumes: [...(w.spec.template.spec.volumes as Obj[])].sort((a, b) => a.name.localeCompare(b.name)),
          strategy: w.spec.strategy ?? w.spec.updateStrategy,
          pod: { ...w.spec.template.spec, containers: undefined, volumes: undefined },
        },
      ]),
    ),
    rules: Object.fromEntries(
      [...ofKind(objs, 'ClusterRole'), ...ofKind(objs, 'Role')].map((r) => [`${r.kind}/${r.metadata.name}`, r.rules]),
    ),
    bindings: Object.fromEntries(
      [...ofKind(objs, 'ClusterRoleBinding'), ...ofKind(objs, 'RoleBinding')].map((b) => [
        `${b.kind}/${b.metadata.name}`,
        { roleRef: b.roleRef, subjects: b.subjects },
      ]),
    ),
  });

  for (const mode of ['local', 'shared'] as const) {
    test(`helm chart (${mode === 'local' ? 'default values' : '--set mode=shared'}) renders what the ${mode} overlay renders`, () => {
      // Kustomize adds only the Namespace; the rest is generated from the chart (deploy/generate-kustomize.sh).
      const withoutNamespace = (objs: Obj[]) => objs.filter((o) => o.kind !== 'Namespace');
      const h = summary(load(`helm-${mode}.yaml`));
      const k = summary(withoutNamespace(load(`kustomize-${mode}.yaml`)));
      assert.deepEqual(h.objects, k.objects);
      assert.deepEqual(h.csidriver, k.csidriver);
      assert.deepEqual(h.workloads, k.workloads);
      assert.deepEqual(h.rules, k.rules);
      assert.deepEqual(h.bindings, k.bindings);
    });
  }

  test('helm extras: StorageClass and VolumeSnapshotClass name the driver; digests are kept', () => {
    const objs = load('helm-extras.yaml');
    const driverName = ofKind(objs, 'CSIDriver')[0]!.metadata.name;
    assert.equal(driverName, 'example.quarry.csi.dev');
    const sc = one(objs, 'StorageClass', 'quarry-local');
    assert.equal(sc.provisioner, driverName);
    assert.equal(sc.volumeBindingMode, 'WaitForFirstConsumer');
    assert.equal(sc.allowVolumeExpansion, true);
    assert.equal(one(objs, 'VolumeSnapshotClass', 'quarry').driver, driverName);
    const vgsc = one(objs, 'VolumeGroupSnapshotClass', 'quarry');
    assert.equal(vgsc.apiVersion, 'groupsnapshot.storage.k8s.io/v1', 'the group snapshot API that csi-snapshotter v8.7 serves');
    assert.equal(vgsc.driver, driverName);
    const vac = one(objs, 'VolumeAttributesClass', 'quarry-thick');
    assert.equal(vac.apiVersion, 'storage.k8s.io/v1');
    assert.equal(vac.driverName, driverName);
    assert.deepEqual(vac.parameters, { provisioning: 'thick' });
    const ds = one(objs, 'DaemonSet', 'quarry-node');
    assert.match(String(containersOf(ds).find(isQuarry)!.image), /^ghcr\.io\/quarry-csi\/quarry:0\.1\.0@sha256:0{64}$/);
  });

  test('helm extras: per-container extra args and pod annotations; the PodMonitor scrapes ports the pods declare', () => {
    const objs = load('helm-extras.yaml');
    const ctl = one(objs, 'Deployment', 'quarry-controller');
    assert.equal(args(containersOf(ctl).find(isQuarry)).at(-1), '--log-level=debug');
    assert.equal(args(containersOf(ctl).find((c) => sidecarOf(c) === 'resizer')).at(-1), '--kube-api-qps=20');
    assert.equal(ctl.spec.template.metadata.annotations['example.com/a'], '1');
    const pm = one(objs, 'PodMonitor', 'quarry');
    const ports = new Set(workloads(objs).flatMap((w) => containersOf(w).flatMap((c) => ((c.ports ?? []) as Obj[]).map((p) => p.name))));
    for (const e of pm.spec.podMetricsEndpoints as Obj[]) assert.ok(ports.has(e.port), `PodMonitor port ${e.port}`);
    assert.ok((pm.spec.podMetricsEndpoints as Obj[]).some((e) => e.port === 'metrics'));
    for (const file of ['helm-local.yaml', 'helm-shared.yaml'])
      assert.deepEqual(ofKind(load(file), 'PodMonitor'), [], `no PodMonitor by default (${file})`);
  });

  test('local mode: the 2-replica controller has a PodDisruptionBudget and spreads over nodes', () => {
    for (const file of ['helm-local.yaml', 'kustomize-local.yaml']) {
      const objs = load(file);
      const ctl = one(objs, 'Deployment', 'quarry-controller');
      assert.equal(ctl.spec.replicas, 2);
      const pdb = one(objs, 'PodDisruptionBudget', 'quarry-controller');
      assert.deepEqual(pdb.spec.selector.matchLabels, ctl.spec.selector.matchLabels);
      assert.equal(pdb.spec.maxUnavailable, 1);
      const anti = ctl.spec.template.spec.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution?.[0]?.podAffinityTerm;
      assert.equal(anti?.topologyKey, 'kubernetes.io/hostname');
      assert.deepEqual(anti?.labelSelector?.matchLabels, ctl.spec.selector.matchLabels);
    }
    assert.deepEqual(ofKind(load('helm-shared.yaml'), 'PodDisruptionBudget'), [], 'shared mode runs one replica: no PDB to block drains');
  });
});

describe('example manifests', () => {
  const files = readdirSync(EXAMPLES, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => path.join(EXAMPLES, f));
  const objs = files.flatMap(loadYaml);
  const driverName = 'quarry.csi.dev';

  test('StorageClasses name the driver, per mode, with the documented parameters', () => {
    const scs = ofKind(objs, 'StorageClass');
    assert.ok(scs.length >= 2, 'one StorageClass per mode');
    for (const sc of scs) {
      assert.equal(sc.provisioner, driverName, sc.metadata.name);
      assert.equal(sc.allowVolumeExpansion, true, sc.metadata.name);
      assert.ok(['ext4', 'xfs', 'btrfs'].includes(sc.parameters['csi.storage.k8s.io/fstype']));
      assert.ok(['thin', 'thick'].includes(sc.parameters.provisioning));
      assert.ok(sc.parameters.pool);
    }
    assert.equal(one(objs, 'StorageClass', 'quarry-local').volumeBindingMode, 'WaitForFirstConsumer');
  });

  test('group snapshot class and group snapshot: v1 API, the driver, a selector the demo claim matches', () => {
    const vgsc = one(objs, 'VolumeGroupSnapshotClass', 'quarry');
    assert.equal(vgsc.apiVersion, 'groupsnapshot.storage.k8s.io/v1');
    assert.equal(vgsc.driver, driverName);
    const group = ofKind(objs, 'VolumeGroupSnapshot')[0]!;
    assert.equal(group.spec.volumeGroupSnapshotClassName, 'quarry');
    const labels = one(objs, 'PersistentVolumeClaim', 'quarry-demo').metadata.labels ?? {};
    for (const [k, v] of Object.entries(group.spec.source.selector.matchLabels as Record<string, string>)) assert.equal(labels[k], v, k);
  });

  test('VolumeAttributesClasses: storage.k8s.io/v1, the driver, only keys the driver can change', () => {
    const vacs = ofKind(objs, 'VolumeAttributesClass');
    assert.deepEqual(vacs.map((v) => v.parameters.provisioning).sort(), ['thick', 'thin']);
    for (const v of vacs) {
      assert.equal(v.apiVersion, 'storage.k8s.io/v1');
      assert.equal(v.driverName, driverName);
      assert.deepEqual(Object.keys(v.parameters), ['provisioning']);
      for (const k of Object.keys(v.parameters)) assert.ok((MUTABLE_KEYS as string[]).includes(k), `${k} is not mutable`);
    }
  });

  test('snapshot class, snapshot and restore refer to each other', () => {
    const vsc = ofKind(objs, 'VolumeSnapshotClass');
    assert.equal(vsc.length, 1);
    assert.equal(vsc[0]!.driver, driverName);
    const snap = ofKind(objs, 'VolumeSnapshot')[0]!;
    assert.equal(snap.spec.volumeSnapshotClassName, vsc[0]!.metadata.name);
    const pvcs = ofKind(objs, 'PersistentVolumeClaim');
    const source = pvcs.find((p) => p.metadata.name === snap.spec.source.persistentVolumeClaimName);
    assert.ok(source, 'the snapshot source claim is in the examples');
    const restore = pvcs.find((p) => p.spec.dataSource?.kind === 'VolumeSnapshot');
    assert.equal(restore?.spec.dataSource.name, snap.metadata.name);
    assert.equal(restore?.spec.dataSource.apiGroup, 'snapshot.storage.k8s.io');
    const scNames = new Set(ofKind(objs, 'StorageClass').map((s) => s.metadata.name));
    for (const p of pvcs) assert.ok(scNames.has(p.spec.storageClassName), `${p.metadata.name}: storage class`);
  });
});

describe('Grafana dashboard', () => {
  const dash = JSON.parse(readFileSync(path.join(ROOT, 'deploy', 'grafana', 'quarry-dashboard.json'), 'utf8')) as Obj;
  // The families Quarry exports (test/integration/metrics-families.test.ts scrapes them) and the sidecars' own.
  const KNOWN = [
    'grpc_server_handled_total',
    'grpc_server_handling_seconds_bucket',
    'csi_sidecar_operations_seconds_bucket',
    'csi_sidecar_operations_seconds_count',
    'quarry_pool_capacity_bytes',
    'quarry_pool_promised_bytes',
    'quarry_pool_used_bytes',
    'quarry_pool_available_bytes',
    'quarry_host_tool_duration_seconds_bucket',
    'quarry_host_tool_failures_total',
    'quarry_build_info',
    'process_resident_memory_bytes',
  ];
  test('every panel queries only metrics that exist', () => {
    const exprs = (dash.panels as Obj[]).flatMap((p) => (p.targets as Obj[]).map((t) => String(t.expr)));
    assert.ok(exprs.length >= 8);
    for (const e of exprs) {
      const names = [...e.matchAll(/([a-z_:][a-z0-9_:]*)\{/g)].map((m) => m[1]!).filter((n) => !['by', 'rate'].includes(n));
      assert.ok(names.length > 0, e);
      for (const n of names) assert.ok(KNOWN.includes(n), `${n} in ${e}`);
    }
  });
});
