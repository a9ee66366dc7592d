// The rendered e2e installs: what the sandbox patches promise holds in every install, and every
// image they name is one that test/e2e builds (so deploy/'s pins and the e2e's builds agree).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import YAML from 'yaml';
import type { K8sObject } from './sandbox-patches.js';

const repoFile = (p: string) => fileURLToPath(new URL(`../../../../${p}`, import.meta.url));
const RENDER = repoFile('test/e2e/install/render.sh');
const STAND_IN = 'quarry.local/sidecar-stand-ins:e2e';

async function render(what: string): Promise<K8sObject[]> {
  const r = await execa('bash', [RENDER, what], { timeout: 900_000, env: { E2E_STAND_IN_IMAGE: STAND_IN } });
  return YAML.parseAllDocuments(r.stdout)
    .map((d) => d.toJS())
    .filter(Boolean);
}

/** The images test/e2e makes: Quarry's (named after package.json) and the sidecars of versions.sh. */
function builtImages(): Set<string> {
  const version = JSON.parse(readFileSync(repoFile('package.json'), 'utf8')).version;
  const tags = Object.fromEntries(
    [...readFileSync(repoFile('test/e2e/sidecars/versions.sh'), 'utf8').matchAll(/^([A-Z_]+)=(\S+)$/gm)].map((m) => [m[1], m[2]]),
  );
  const r = tags.SIDECAR_REGISTRY;
  return new Set([
    `ghcr.io/quarry-csi/quarry:${version}`,
    `${r}/csi-provisioner:${tags.PROVISIONER_TAG}`,
    `${r}/csi-attacher:${tags.ATTACHER_TAG}`,
    `${r}/csi-resizer:${tags.RESIZER_TAG}`,
    `${r}/csi-snapshotter:${tags.SNAPSHOTTER_TAG}`,
    `${r}/snapshot-controller:${tags.SNAPSHOTTER_TAG}`,
    STAND_IN,
  ]);
}

const pods = (objects: K8sObject[]) =>
  objects
    .filter((o) => ['DaemonSet', 'Deployment', 'StatefulSet'].includes(o.kind))
    .map((o) => ({ owner: `${o.kind}/${o.metadata.name}`, workload: o, spec: o.spec.template.spec }));

/** Every loopback port a render's pods listen on, checked for the patches' promises on the way. */
function checkInstall(objects: K8sObject[], images: Set<string>): number[] {
  const ports: number[] = [];
  assert.ok(pods(objects).length > 0, 'the render holds workloads');
  for (const { owner, workload, spec } of pods(objects)) {
    assert.equal(spec.hostNetwork, true, `${owner} uses the host network`);
    if (workload.kind === 'Deployment') assert.equal(workload.spec.replicas, 1, `${owner} runs one replica`);
    const served = new Set<number>();
    for (const c of spec.containers) {
      const where = `${owner} ${c.name}`;
      assert.ok(images.has(c.image), `${where} runs ${c.image}, which test/e2e does not build`);
      const env = Object.fromEntries((c.env ?? []).map((e: K8sObject) => [e.name, e.value]));
      assert.equal(env.KUBERNETES_SERVICE_HOST, '127.0.0.1', `${where} reaches the API server on loopback`);
      for (const arg of c.args ?? []) {
        const m = /^--(?:metrics-addr|http-endpoint)=(.*)$/.exec(arg);
        if (!m) continue;
        const addr = /^127\.0\.0\.1:(\d+)$/.exec(m[1]!);
        assert.ok(addr, `${where} listens on ${m[1]}, not on loopback`);
        served.add(Number(addr[1]));
        ports.push(Number(addr[1]));
      }
      if (c.image === STAND_IN) {
        const script = String(c.command?.[1] ?? '').replace('/opt/quarry/', '');
        assert.ok(readFileSync(repoFile(script)), `${where} runs ${script}`);
      }
    }
    for (const c of spec.containers) {
      for (const p of c.ports ?? [])
        assert.ok(served.has(p.containerPort), `${owner} ${c.name} declares port ${p.containerPort}, which nothing serves`);
      for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
        const get = c[probe]?.httpGet;
        if (!get) continue;
        assert.equal(get.host, '127.0.0.1', `${owner} ${c.name} ${probe} asks loopback`);
        assert.ok(served.has(get.port), `${owner} ${c.name} ${probe} asks port ${get.port}, which nothing serves`);
      }
    }
  }
  return ports;
}

describe('e2e install renders', () => {
  const images = builtImages();
  const controllerPorts = async () => checkInstall(await render('snapshot-controller'), images);

  for (const what of ['local', 'shared', 'helm-local', 'helm-shared']) {
    it(`${what}: deploy/ with only the sandbox patches, on images the e2e builds`, async () => {
      const objects = await render(what);
      const ports = checkInstall(objects, images);
      const all = [...ports, ...(await controllerPorts())];
      assert.equal(new Set(all).size, all.length, `two endpoints share a port: ${all.join(', ')}`);
      const text = objects.flatMap((o) => (o.spec?.template?.spec?.containers ?? []).map((c: K8sObject) => c.image)).join(' ');
      assert.doesNotMatch(text, /csi-node-driver-registrar|livenessprobe/, 'no unobtainable sidecar image is left');
    });
  }

  it('snapshot-crds: the three VolumeSnapshot and the three VolumeGroupSnapshot CRDs', async () => {
    const names = (await render('snapshot-crds')).map((o) => o.metadata.name).sort();
    assert.deepEqual(names, [
      'volumegroupsnapshotclasses.groupsnapshot.storage.k8s.io',
      'volumegroupsnapshotcontents.groupsnapshot.storage.k8s.io',
      'volumegroupsnapshots.groupsnapshot.storage.k8s.io',
      'volumesnapshotclasses.snapshot.storage.k8s.io',
      'volumesnapshotcontents.snapshot.storage.k8s.io',
      'volumesnapshots.snapshot.storage.k8s.io',
    ]);
  });
});
