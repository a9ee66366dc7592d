/**
 * The ONLY changes the e2e makes to Quarry's install manifests, each with the reason this sandbox
 * forces it. Everything else is deploy/ exactly as docs/install.md has admins apply it.
 *
 * The patches work on the rendered objects (kustomize or Helm output) and find containers by
 * what they are, never by position, so that changes to the manifests keep applying.
 */

/** A Kubernetes object as parsed from YAML. */
export type K8sObject = Record<string, any>;

/** Everything the patches need to know about the cluster and the local images. */
export interface SandboxFacts {
  /** The API server's address as every pod must reach it. */
  apiServerHost: string;
  apiServerPort: number;
  /** The image holding the sidecar stand-ins (test/e2e/registrar). */
  standInImage: string;
  /** First loopback port for moved HTTP endpoints; renders applied together need disjoint ranges. */
  firstPort: number;
}

export interface SandboxPatch {
  name: string;
  reason: string;
  /** Changes one pod template (of a DaemonSet, Deployment or StatefulSet) in place. */
  apply(pod: PodTemplate, facts: SandboxFacts): void;
}

export interface PodTemplate {
  /** The workload that owns the template ("DaemonSet/quarry-node"). */
  owner: string;
  workload: K8sObject;
  spec: K8sObject;
  /** Hands out loopback ports, distinct across every template of one render. */
  nextPort(): number;
}

const STAND_IN_DIR = '/opt/quarry/dist/test/e2e/registrar';

export const SANDBOX_PATCHES: SandboxPatch[] = [
  {
    name: 'host-network',
    reason:
      'The e2e cluster has no pod network: no CNI plugin, and no address outside this machine may be used. ' +
      "Every pod therefore shares the node's network namespace.",
    apply(pod) {
      pod.spec.hostNetwork = true;
    },
  },
  {
    name: 'api-server-address',
    reason:
      'In-cluster clients dial the `kubernetes` Service, a ClusterIP that needs kube-proxy and an address outside ' +
      'loopback; neither exists here. The API server listens on 127.0.0.1, which host-network pods reach directly.',
    apply(pod, facts) {
      for (const c of containers(pod)) {
        setEnv(c, 'KUBERNETES_SERVICE_HOST', facts.apiServerHost);
        setEnv(c, 'KUBERNETES_SERVICE_PORT', String(facts.apiServerPort));
      }
    },
  },
  {
    name: 'loopback-http-ports',
    reason:
      'With host networking every HTTP endpoint (metrics, health) of every pod binds on the one node, so the ' +
      'node and controller pods would clash on the same ports, and nothing may listen beyond loopback here. ' +
      'Each endpoint moves to 127.0.0.1 and a port of its own; containerPorts and probes follow.',
    apply(pod) {
      const moved = new Map<number, number>();
      for (const c of containers(pod)) {
        c.args = (c.args ?? []).map((arg: string) => {
          const m = /^(--(?:metrics-addr|http-endpoint))=(.*):(\d+)$/.exec(String(arg));
          if (!m) return arg;
          const port = moved.get(Number(m[3])) ?? pod.nextPort();
          moved.set(Number(m[3]), port);
          return `${m[1]}=127.0.0.1:${port}`;
        });
      }
      const named = new Map<string, number>();
      for (const c of containers(pod)) {
        c.ports = (c.ports ?? []).flatMap((p: K8sObject) => {
          const port = moved.get(p.containerPort);
          // A declared port that nothing serves any more would only block the node's port.
          if (port === undefined) return [];
          if (p.name) named.set(p.name, port);
          return [{ ...p, containerPort: port }];
        });
        if (c.ports.length === 0) delete c.ports;
      }
      for (const c of containers(pod)) {
        for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
          const get = c[probe]?.httpGet;
          if (!get) continue;
          const port = typeof get.port === 'number' ? moved.get(get.port) : named.get(get.port);
          if (port === undefined) throw new Error(`${pod.owner}: ${c.name}'s ${probe} names port ${get.port}, which no endpoint serves`);
          get.port = port;
          get.host = '127.0.0.1';
        }
      }
    },
  },
  {
    name: 'one-controller-replica',
    reason:
      'On one node with host networking a second replica would need the same ports as the first; the scheduler ' +
      'refuses it and it stays Pending, so the Deployment never becomes fully available.',
    apply(pod) {
      if (pod.workload.kind === 'Deployment') pod.workload.spec.replicas = 1;
    },
  },
  {
    name: 'registrar-stand-in',
    reason:
      'node-driver-registrar cannot be pulled (no registry is reachable) nor built (the Go module proxy does not ' +
      'serve it). test/e2e/registrar/registrar.ts stands in for it, with the same flags and protocol.',
    apply(pod, facts) {
      for (const c of containers(pod).filter((c) => isImage(c, 'csi-node-driver-registrar'))) {
        standIn(c, facts, 'registrar.js');
      }
    },
  },
  {
    name: 'livenessprobe-stand-in',
    reason:
      'livenessprobe cannot be pulled nor built here either. test/e2e/registrar/liveness-probe.ts stands in for ' +
      "it, so that the driver's livenessProbe still calls the driver's CSI Probe.",
    apply(pod, facts) {
      for (const c of containers(pod).filter((c) => isImage(c, 'livenessprobe'))) {
        standIn(c, facts, 'liveness-probe.js');
      }
    },
  },
];

/** Applies every patch to every pod template among `objects`; returns the names of the patched workloads. */
export function applySandboxPatches(objects: K8sObject[], facts: SandboxFacts): string[] {
  const patched: string[] = [];
  let port = facts.firstPort;
  for (const o of objects) {
    const spec = o?.spec?.template?.spec;
    if (!spec || !['DaemonSet', 'Deployment', 'StatefulSet'].includes(o.kind)) continue;
    const pod: PodTemplate = { owner: `${o.kind}/${o.metadata?.name}`, workload: o, spec, nextPort: () => port++ };
    for (const p of SANDBOX_PATCHES) p.apply(pod, facts);
    patched.push(pod.owner);
  }
  return patched;
}

function containers(pod: PodTemplate): K8sObject[] {
  return [...(pod.spec.initContainers ?? []), ...(pod.spec.containers ?? [])];
}

/** True when the container runs `name` from any registry, at any tag or digest. */
function isImage(c: K8sObject, name: string): boolean {
  const repo = String(c.image ?? '')
    .split('@')[0]!
    .replace(/:[^/]*$/, '');
  return repo.split('/').pop() === name;
}

function standIn(c: K8sObject, facts: SandboxFacts, script: string): void {
  c.image = facts.standInImage;
  c.imagePullPolicy = 'IfNotPresent';
  c.command = ['node', `${STAND_IN_DIR}/${script}`];
}

function setEnv(c: K8sObject, name: string, value: string): void {
  c.env = [...(c.env ?? []).filter((e: K8sObject) => e.name !== name), { name, value }];
}
