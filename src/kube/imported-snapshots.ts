import { KubeApiError, type KubeClient, type WatchEvent } from './client.js';

/**
 * Labels imported VolumeSnapshotContents for the node that holds their snapshot (design: Imported
 * snapshots in local mode). In local mode each node runs its own csi-snapshotter, which only
 * handles contents labelled `managed-by=<its node>`. snapshot-controller sets that label on the
 * contents it creates, never on one made by hand or by a backup tool: such a content would never
 * become ready and its deletion would never reach the driver. The node that finds the handle in
 * its own pools is the one that can serve it, so it sets the label.
 */

export const MANAGED_BY_LABEL = 'snapshot.storage.kubernetes.io/managed-by';
const CONTENTS = '/apis/snapshot.storage.k8s.io/v1/volumesnapshotcontents';
/** The server ends each watch after this long; the next round lists again, which also heals a missed event. */
const WATCH_SECONDS = 300;
const MAX_BACKOFF_MS = 30_000;

export interface SnapshotContent {
  metadata: { name: string; resourceVersion?: string; labels?: Record<string, string> };
  spec?: { driver?: string; source?: { snapshotHandle?: string; volumeHandle?: string } };
}

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
  log: LabelerLog;
}

export type Outcome = 'labelled' | 'not ours' | 'not here' | 'already labelled';

/** Labels one content if it is an unlabelled imported snapshot of this driver held by this node. */
export async function reconcileContent(o: LabelerOptions, content: SnapshotContent): Promise<Outcome> {
  const handle = content.spec?.source?.snapshotHandle;
  if (content.spec?.driver !== o.driverName || !handle) return 'not ours';
  if (content.metadata.labels?.[MANAGED_BY_LABEL] !== undefined) return 'already labelled';
  if (!(await o.holdsSnapshot(handle))) return 'not here';
  const path = `${CONTENTS}/${encodeURIComponent(content.metadata.name)}`;
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
  o.log.info(
    { content: content.metadata.name, snapshot_id: handle, node: o.nodeId },
    'labelled an imported VolumeSnapshotContent for this node',
  );
  return 'labelled';
}

/** One round: list the unlabelled contents, label ours, then follow the watch until the server ends it. */
export async function reconcileRound(o: LabelerOptions, signal?: AbortSignal): Promise<void> {
  const selector = { labelSelector: `!${MANAGED_BY_LABEL}` };
  const list = await o.client.list<SnapshotContent>(CONTENTS, selector);
  for (const c of list.items) await reconcileOne(o, c);
  if (signal?.aborted) return;
  await o.client.watch<SnapshotContent>(
    CONTENTS,
    {
      ...selector,
      resourceVersion: list.metadata.resourceVersion ?? '',
      timeoutSeconds: String(WATCH_SECONDS),
      allowWatchBookmarks: 'true',
    },
    async (e: WatchEvent<SnapshotContent>) => {
      if (e.type === 'ERROR') throw new KubeApiError((e.object as { code?: number }).code ?? 0, `watch: ${JSON.stringify(e.object)}`);
      if (e.type === 'ADDED' || e.type === 'MODIFIED') await reconcileOne(o, e.object);
    },
    signal,
  );
}

/** One content; a failure is logged and left for the next round, never stops the others. */
async function reconcileOne(o: LabelerOptions, c: SnapshotContent): Promise<void> {
  try {
    await reconcileContent(o, c);
  } catch (err) {
    o.log.warn(
      { content: c.metadata.name, err: (err as Error).message },
      'could not label an imported VolumeSnapshotContent; retrying on the next round',
    );
  }
}

/** Runs rounds until stopped; a failed round (API down, watch expired) waits a growing pause and lists again. */
export function startImportedSnapshotLabeler(o: LabelerOptions): { stop(): Promise<void> } {
  const abort = new AbortController();
  const loop = (async () => {
    let backoff = 1000;
    while (!abort.signal.aborted) {
      try {
        await reconcileRound(o, abort.signal);
        backoff = 1000;
      } catch (err) {
        if (abort.signal.aborted) break;
        o.log.warn(
          { err: (err as Error).message, retry_ms: backoff },
          'imported-snapshot labeler: listing or watching VolumeSnapshotContents failed',
        );
        await sleep(backoff, abort.signal);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    }
  })();
  return {
    async stop() {
      abort.abort();
      await loop;
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
