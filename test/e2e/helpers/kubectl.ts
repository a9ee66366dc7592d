// kubectl for the e2e stories: always the cluster's own kubeconfig, an argument array, a timeout.
import { execa } from 'execa';

export interface Kubectl {
  (args: string[], input?: string): Promise<string>;
  kubeconfig: string;
}

/** A kubectl bound to one cluster. Throws with kubectl's stderr when it exits non-zero. */
export function kubectlFor(binary: string, kubeconfig: string): Kubectl {
  const run = async (args: string[], input?: string): Promise<string> => {
    const r = await execa(binary, ['--kubeconfig', kubeconfig, ...args], {
      input,
      timeout: 120_000,
      reject: false,
    });
    if (r.exitCode !== 0) throw new Error(`kubectl ${args.join(' ')}: exit ${r.exitCode}: ${r.stderr || r.stdout}`);
    return r.stdout;
  };
  return Object.assign(run, { kubeconfig });
}

export const apply = (k: Kubectl, yaml: string): Promise<string> => k(['apply', '-f', '-'], yaml);

export async function getJson<T = any>(k: Kubectl, args: string[]): Promise<T> {
  return JSON.parse(await k(['get', ...args, '-o', 'json'])) as T;
}

/** Whether an object exists (a NotFound is false; any other error is thrown). */
export async function exists(k: Kubectl, args: string[]): Promise<boolean> {
  const out = await k(['get', ...args, '--ignore-not-found', '-o', 'name']);
  return out.trim() !== '';
}

/**
 * Polls `probe` until it returns a value other than undefined, or fails after `seconds` with
 * `what` and the last probe error. The deadline only bounds a hang; nothing asserts on time.
 */
export async function eventually<T>(what: string, seconds: number, probe: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + seconds * 1000;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${seconds}s waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Events of one object, oldest first, as "Reason: message" lines (for failure messages and assertions). */
export async function eventsOf(k: Kubectl, namespace: string, name: string): Promise<string[]> {
  const list = await getJson(k, ['events', '-n', namespace, '--field-selector', `involvedObject.name=${name}`]);
  return (list.items as any[]).map((e) => `${e.reason}: ${e.message}`);
}
