import { statSync } from 'node:fs';
import type { Bytes } from '../domain/bytes.js';
import { LISTING_TTL_MS } from './record-store.js';

/**
 * The image sizes a listing measured (ListVolumes' volume conditions), kept while the pool
 * generation it was read at stands and for at most LISTING_TTL_MS, the rule the listing's records
 * follow (design: Records). Every change Quarry makes to an image comes after a generation bump
 * (the record that reserves, grows or deletes it), so only a change made outside Quarry (an image
 * deleted or truncated by hand) goes unseen, and for at most that long, as a hand-edited record does.
 */
export class ListedImageSizes {
  private kept?: { generation: bigint; at: number; sizes: Map<string, Bytes | undefined> };

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * Sizes of the images of `ids` (undefined for a missing file) as of `generation`; undefined
   * generation always stats. Kept by ID, so a kept size costs no path string.
   */
  sizes(generation: bigint | undefined, ids: readonly string[], pathOf: (id: string) => string): Array<Bytes | undefined> {
    const now = this.now();
    let kept = this.kept;
    if (generation === undefined) kept = undefined;
    else if (kept?.generation !== generation || now - kept.at >= LISTING_TTL_MS) kept = { generation, at: now, sizes: new Map() };
    this.kept = kept;
    return ids.map((id) => {
      if (kept?.sizes.has(id)) return kept.sizes.get(id);
      // Synchronous: a stat of a cached inode takes microseconds, its libuv request and promise several times that.
      const size = statSync(pathOf(id), { throwIfNoEntry: false })?.size as Bytes | undefined;
      kept?.sizes.set(id, size);
      return size;
    });
  }
}
