import { KubeApiError, type KubeClient, type WatchEvent } from './client.js';

/**
 * Labels unlabelled (Group)SnapshotContents for the node that holds what they name (design:
 * Imported snapshots in local mode). In local mode each node runs its own csi-snapshotter, which
 * only handles contents labelled `managed-by=<its node>`. snapshot-controller sets that label on
 * the VolumeSnapshotContents it creates for a claim's snapshot, but never on a content made by
 * hand or by a backup tool, on a VolumeGroupSnapshotContent, nor on the member contents of a
 * group: those would never become ready and their deletion would never reach the driver. The node
 * that finds the volumes or snapshots in its own pools is the one that can serve them, so it sets
 * the label.
 */

export const MANAGED_BY_LABEL = 'snapshot.storage.kubernetes.io/managed-by';
/** The server ends each watch after this long; the next round lists again, which also heals a missed event. */
const WATCH_SECONDS = 300;
const MAX_BACKOFF_MS = 30_000;

/** The fields read from a VolumeSnapshotContent or a VolumeGroupSnapshotContent. */
export interface SnapshotContent {
  metadata: { name: string; resourceVersion?: string; labels?: Record<string, string> };
  status?: { snapshotHandle?: string };
  spec?: {
    driver?: string;
    source?: {
      snapshotHandle?: string;
      volumeHandle?: string;
      /** Group content, dynamic: the member volumes. */
      volumeHandles?: string[];
      /** Group content, pre-provisioned. */
      groupSnapshotHandles?: { volumeGroupSnapshotHandle?: string; volumeSnapshotHandles?: string[] };
    };
  };
}

/** What a content names that a node must hold: snapshots (imported) or volumes (a group to take). */
interface Named {
  snapshots: string[];
  volumes: string[];
}

export interface ContentKind {
  /** For logs: VolumeSnapshotContent, VolumeGroupSnapshotContent. */
  kind: string;
  path: string;
  /** What the content names, as alternatives: held if every handle of one is held. None: not handled here. */
  named(c: SnapshotContent): Named[];
}

export const SNAPSHOT_CONTENTS: ContentKind = {
  kind: 'VolumeSnapshotContent',
  path: '/apis/snapshot.storage.k8s.io/v1/volumesnapshotcontents',
  named: (c) => {
    const imported = c.spec?.source?.snapshotHandle;
    if (imported) return [{ snapshots: [imported], volumes: [] }];
    // Unlabelled with a volumeHandle: a member of a group snapshot (snapshot-controller labels the
    // contents of single snapshots when it creates them). Its snapshot, once cut, or its volume.
    const volume = c.spec?.source?.volumeHandle;
    const cut = c.status?.snapshotHandle;
    return [...(cut ? [{ snapshots: [cut], volumes: [] }] : []), ...(volume ? [{ snapshots: [], volumes: [volume] }] : [])];
  },
};

export const GROUP_SNAPSHOT_CONTENTS: ContentKind = {
  kind: 'VolumeGroupSnapshotContent',
  path: '/apis/groupsnapshot.storage.k8s.io/v1/volumegroupsnapshotcontents',
  named: (c) => {
    const src = c.spec?.source;
    if (src?.volumeHandles?.length) return [{ snapshots: [], volumes: src.volumeHandles }];
    const members = src?.groupSnapshotHandles?.volumeSnapshotHandles;
    return members?.length ? [{ snapshots: members, volumes: [] }] : [];
  },
};

export interface LabelerLog {
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
}

export interface LabelerOptions {
  client: KubeClient;
  driverName: string;
  nodeId: string;
  /** True when this node's pools hold the snapshot with this handle. */
  holdsSnapshot(handle: string): Promise<boolean>;
  /** True when this node's pools hold the volume with this handle. */
  holdsVolume(handle: string): Promise<boolean>;
  log: LabelerLog;
}

export type Outcome = 'labelled' | 'not ours' | 'not here' | 'already labelled';

async function holdsAll(o: LabelerOptions, n: Named): Promise<boolean> {
  for (const h of n.snapshots) if (!(await o.holdsSnapshot(h))) return false;
  for (const h of n.volumes) if (!(await o.holdsVolume(h))) return false;
  return true;
}

async function heldAlternative(o: LabelerOptions, alternatives: Named[]): Promise<Named | undefined> {
  for (const n of alternatives) if (await holdsAll(o, n)) return n;
  return undefined;
}

/** Labels one content if it is unlabelled, of this driver, and everything it names is held by this node. */
export async function reconcileContent(o: LabelerOptions, content: SnapshotContent, k: ContentKind = SNAPSHOT_CONTENTS): Promise<Outcome> {
  const alternatives = k.named(content);
  if (content.spec?.driver !== o.driverName || alternatives.length === 0) return 'not ours';
  if (content.metadata.labels?.[MANAGED_BY_LABEL] !== undefined) return 'already labelled';
  const named = await heldAlternative(o, alternatives);
  if (!named) return 'not here';
  const path = `${k.path}/${encodeURIComponent(content.metadata.name)}`;
  // resourceVersion makes the patch conditional: a content labelled meanwhile is re-read, not overwritten.
  const patch = (rv: string | undefined) => ({
    metadata: { ...(rv ? { resourceVersion: rv } : {}), labels: { [MANAGED_BY_LABEL]: o.nodeId } },
  });
  try {
    await o.client.mergePatch(path, patch(content.metadata.resourceVersion));
  } catch (err) {
    if (!(err instanceof KubeApiError) || err.status !== 409) throw err;
    const fresh = await o.client.get<SnapshotContent>(path);
    if (fresh.metadata.labels?.[MANAGED_BY_LABEL] !== undefined) return 'already labelled';
    await o.client.mergePatch(path, patch(fresh.metadata.resourceVersion));
  }
  o.log.info({ content: content.metadata.name, ...named, node: o.nodeId }, `labelled a ${k.kind} for this node`);
  return 'labelled';
}

/** One round: list the unlabelled contents, label ours, then follow the watch until the server ends it. */
export async function reconcileRound(o: LabelerOptions, k: ContentKind = SNAPSHOT_CONTENTS, signal?: AbortSignal): Promise<void> {
  const selector = { labelSelector: `!${MANAGED_BY_LABEL}` };
  const list = await o.client.list<SnapshotContent>(k.path, selector);
  for (const c of list.items) await reconcileOne(o, c, k);
  if (signal?.aborted) return;
  await o.client.watch<SnapshotContent>(
    k.path,
    {
      ...selector,
      resourceVersion: list.metadata.resourceVersion ?? '',
      timeoutSeconds: String(WATCH_SECONDS),
      allowWatchBookmarks: 'true',
    },
    async (e: WatchEvent<SnapshotContent>) => {
      if (e.type === 'ERROR') throw new KubeApiError((e.object as { code?: number }).code ?? 0, `watch: ${JSON.stringify(e.object)}`);
      if (e.type === 'ADDED' || e.type === 'MODIFIED') await reconcileOne(o, e.object, k);
    },
    signal,
  );
}

/** One content; a failure is logged and left for the next round, never stops the others. */
async function reconcileOne(o: LabelerOptions, c: SnapshotContent, k: ContentKind): Promise<void> {
  try {
    await reconcileContent(o, c, k);
  } catch (err) {
    o.log.warn({ content: c.metadata.name, err: (err as Error).message }, `could not label a ${k.kind}; retrying on the next round`);
  }
}

/**
 * Runs rounds for each kind until stopped; a failed round (API down, watch expired, CRDs not
 * installed yet) waits a growing pause and lists again.
 */
export function startContentLabeler(
  o: LabelerOptions,
  kinds: ContentKind[] = [SNAPSHOT_CONTENTS, GROUP_SNAPSHOT_CONTENTS],
): { stop(): Promise<void> } {
  const abort = new AbortController();
  const loop = async (k: ContentKind) => {
    let backoff = 1000;
    while (!abort.signal.aborted) {
      try {
        await reconcileRound(o, k, abort.signal);
        backoff = 1000;
      } catch (err) {
        if (abort.signal.aborted) break;
        o.log.warn({ err: (err as Error).message, retry_ms: backoff }, `content labeler: listing or watching ${k.kind}s failed`);
        await sleep(backoff, abort.signal);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    }
  };
  const loops = Promise.all(kinds.map(loop));
  return {
    async stop() {
      abort.abort();
      await loops;
    },
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    t.unref();
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });
}
