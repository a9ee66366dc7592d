// Check: the kubelet directory exists and sits on a mount with shared propagation.
import { stat } from 'node:fs/promises';
import { sep } from 'node:path';
import { canonicalPath, readMountInfo, type MountInfoEntry } from '../host/mountinfo.js';
import { errorText, fail, ok, warn, type CheckResult } from './result.js';

export const DEFAULT_KUBELET_DIR = '/var/lib/kubelet';
const CHECK = 'kubelet dir';

/** The mount that contains `path` (already canonical): the longest mount point that is `path` or a parent of it, topmost if stacked. */
export function containingMount(path: string, entries: readonly MountInfoEntry[]): MountInfoEntry | undefined {
  let best: MountInfoEntry | undefined;
  for (const e of entries) {
    const mp = e.mountPoint;
    const contains = mp === path || mp === sep || path.startsWith(mp + sep);
    if (!contains) continue;
    if (!best || mp.length >= best.mountPoint.length) best = e; // later lines are stacked on top
  }
  return best;
}

export function propagationOf(e: MountInfoEntry): { shared?: string; master?: string } {
  const shared = e.optionalFields.find((f) => f.startsWith('shared:'));
  const master = e.optionalFields.find((f) => f.startsWith('master:'));
  return { ...(shared ? { shared } : {}), ...(master ? { master } : {}) };
}

/** Decides from what was found; `exists` false means the path does not exist at all. */
export function decideKubelet(
  dir: string,
  found: { exists: boolean; isDirectory?: boolean; canonical?: string; mount?: MountInfoEntry },
): CheckResult {
  if (!found.exists) {
    return warn(CHECK, `${dir} does not exist: this host is not a Kubernetes node yet; run quarry doctor again after kubelet is installed`);
  }
  if (!found.isDirectory)
    return fail(CHECK, `${dir} is not a directory`, `pass the kubelet root directory with --kubelet-dir (kubelet --root-dir)`);
  const where = found.canonical && found.canonical !== dir ? `${dir} (${found.canonical})` : dir;
  if (!found.mount)
    return fail(
      CHECK,
      `no mount in /proc/self/mountinfo contains ${where}`,
      "run quarry doctor where /proc is the host's or the pod's own",
    );
  const { shared, master } = propagationOf(found.mount);
  const fix =
    `on the host run mount --make-rshared / (or mount --make-rshared ${found.canonical ?? dir} after bind-mounting it onto itself), ` +
    'and give the kubelet dir volume mountPropagation: Bidirectional in the node DaemonSet';
  if (shared) return ok(CHECK, `${where} is on mount ${found.mount.mountPoint} with shared propagation (${shared})`);
  const kind = master ? `slave propagation (${master}) only` : 'private propagation';
  return fail(
    CHECK,
    `${where} is on mount ${found.mount.mountPoint} with ${kind}: volumes mounted by the node plugin would not reach pods`,
    fix,
  );
}

export async function checkKubeletDir(dir = DEFAULT_KUBELET_DIR, mountinfoFile?: string): Promise<CheckResult> {
  let info;
  try {
    info = await stat(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return decideKubelet(dir, { exists: false });
    return fail(CHECK, `cannot stat ${dir}: ${errorText(err)}`, 'run quarry doctor as root');
  }
  if (!info.isDirectory()) return decideKubelet(dir, { exists: true, isDirectory: false });
  try {
    const canonical = await canonicalPath(dir);
    const mount = containingMount(canonical, await readMountInfo(mountinfoFile));
    return decideKubelet(dir, { exists: true, isDirectory: true, canonical, ...(mount ? { mount } : {}) });
  } catch (err) {
    return fail(CHECK, `cannot read the mount table: ${errorText(err)}`, 'run quarry doctor where /proc/self/mountinfo is readable');
  }
}
