import type { ImagePool } from '../../storage/image-pool.js';
import type { VolumeRecord } from '../../storage/records.js';
import type { ServiceContext } from '../context.js';

export interface VolumeCondition {
  abnormal: boolean;
  message: string;
}

const HEALTHY: VolumeCondition = Object.freeze({ abnormal: false, message: 'volume is healthy' });

/**
 * The controller's view of a volume's health (design: Volume health), from what the pool holds:
 * the image must exist at the recorded size, no copy may have left it frozen past its deadline,
 * and a thin volume is abnormal while its pool cannot give it its full size. The node adds what
 * only it can see (the mount) in NodeGetVolumeStats.
 */
export async function volumeCondition(pool: ImagePool, r: VolumeRecord): Promise<VolumeCondition> {
  return (await volumeConditions(pool, [r]))[0]!;
}

/**
 * The conditions of volumes of one pool, the pool's space condition read once for all of them.
 * Each image is stat'ed now, or, for a listing (ListVolumes, `listed`), as the pool's last listing
 * measured it while no change was made since (ImagePool.volumeImageSizesListed).
 */
export async function volumeConditions(
  pool: ImagePool,
  records: readonly VolumeRecord[],
  opts: { listed?: boolean } = {},
): Promise<VolumeCondition[]> {
  const ids = records.map((r) => r.id);
  const sizes = opts.listed ? pool.volumeImageSizesListed(ids) : pool.volumeImageSizesNow(ids);
  const found = records.map((r, i) => imageCondition(pool, r, sizes[i]));
  const thinLeft = records.some((r, i) => !found[i] && r.provisioning === 'thin');
  const space = thinLeft ? await pool.spaceCondition() : undefined;
  return records.map((r, i) => {
    const c = found[i];
    if (c) return c;
    return space && r.provisioning === 'thin' ? { abnormal: true, message: space } : HEALTHY;
  });
}

/** What the image and the record say about a volume, or undefined when that is healthy. */
function imageCondition(pool: ImagePool, r: VolumeRecord, size: number | undefined): VolumeCondition | undefined {
  if (size === undefined) {
    return { abnormal: true, message: `image ${pool.volumeImagePath(r.id)} is missing: the volume's data is gone from pool ${pool.name}` };
  }
  if (size < r.sizeBytes) {
    return {
      abnormal: true,
      message:
        `image is ${size} bytes but the record says ${r.sizeBytes}: ` +
        `it was truncated, and the filesystem on it will fail past byte ${size}`,
    };
  }
  if (size > r.sizeBytes) {
    return { abnormal: true, message: `image is ${size} bytes but the record says ${r.sizeBytes}: an expansion was interrupted; retry it` };
  }
  if (r.freeze && !(Date.parse(r.freeze.until) >= Date.now())) {
    return {
      abnormal: true,
      message:
        `filesystem at ${r.freeze.mountPath} on ${r.freeze.nodeId} was left frozen for a copy ` +
        `past ${r.freeze.until}; the node's sweep thaws it`,
    };
  }
  return undefined;
}

/**
 * Nodes the volume is published to. Shared mode: the nodes the controller attached it to, which
 * is what external-attacher reconciles. Local mode: the node that published it (its only node).
 */
export function publishedNodes(ctx: ServiceContext, r: VolumeRecord): string[] {
  const nodes = ctx.mode === 'shared' ? r.attachments.map((a) => a.nodeId) : r.publications.map((p) => p.nodeId);
  return [...new Set(nodes)].sort();
}
