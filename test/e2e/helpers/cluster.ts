// The one-node cluster of the e2e stories, started and stopped by test/e2e/cluster/cluster.sh.
// Every component listens on 127.0.0.1 or a unix socket; `down` stops them by PID, unmounts,
// detaches and removes the state even when a story failed.
import { execa } from 'execa';
import { mkdtemp, rmdir } from 'node:fs/promises';
import { homedir, hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kubectlFor, type Kubectl } from './kubectl.js';

export const REPO = resolve(fileURLToPath(import.meta.url), '../../../../..');
const SCRIPT = join(REPO, 'test/e2e/cluster/cluster.sh');
export const TOOLS = process.env.QUARRY_TOOLS_DIR ?? join(homedir(), '.cache/quarry-tools');
export const K8S_BIN = process.env.K8S_BIN ?? join(TOOLS, 'k8s-v1.34.4');
/** Where the image archives (pause, quarry, sidecars) are; made by the image build step. */
export const E2E_IMAGES = process.env.E2E_IMAGES ?? join(TOOLS, 'e2e-images');
export const PAUSE_IMAGE = process.env.E2E_PAUSE_IMAGE ?? 'quarry.local/pause:e2e';

export interface Cluster {
  state: string;
  node: string;
  kubectl: Kubectl;
  /** The pool directory the manifests name, on the host. */
  poolDir: string;
  /** Stops the kubelet by PID and starts it again (as a node upgrade or a crash does). */
  restartKubelet(): Promise<void>;
  down(): Promise<void>;
}

async function script(cmd: 'up' | 'down' | 'restart-kubelet', state: string, poolDir: string): Promise<void> {
  const r = await execa('bash', [SCRIPT, cmd, state], {
    env: { K8S_BIN, E2E_IMAGES, E2E_PAUSE_IMAGE: PAUSE_IMAGE, E2E_POOL_DIR: poolDir },
    timeout: 15 * 60_000,
    reject: false,
    all: true,
  });
  if (r.exitCode !== 0) throw new Error(`cluster.sh ${cmd} failed (exit ${r.exitCode}):\n${r.all}`);
}

/** Starts a fresh cluster with an xfs pool at `poolDir` (the path the install's --pool names); its `down` is idempotent and is what a suite's after hook calls. */
export async function startCluster(poolDir = '/var/lib/quarry/pools/default'): Promise<Cluster> {
  const parent = await mkdtemp(join(tmpdir(), 'quarry-e2e-'));
  const state = join(parent, 'cluster');
  let stopped = false;
  const down = async () => {
    if (stopped) return;
    stopped = true;
    await script('down', state, poolDir);
    await rmdir(parent);
  };
  try {
    await script('up', state, poolDir);
  } catch (e) {
    await down().catch(() => undefined);
    throw e;
  }
  return {
    state,
    node: hostname(),
    kubectl: kubectlFor(join(K8S_BIN, 'kubectl'), join(state, 'admin.kubeconfig')),
    poolDir,
    restartKubelet: () => script('restart-kubelet', state, poolDir),
    down,
  };
}
