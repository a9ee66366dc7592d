import type { PublicationRecord, StagingRecord, VolumeRecord } from '../../storage/records.js';

/** Pure changes to a volume record's node state; callers write them under the pool lock. */
export function withStaging(v: VolumeRecord, s: StagingRecord): VolumeRecord {
  const others = v.staging.filter((x) => !(x.nodeId === s.nodeId && x.stagingPath === s.stagingPath));
  return { ...v, staging: [...others, s] };
}

export function withoutStaging(v: VolumeRecord, nodeId: string, stagingPath: string): VolumeRecord {
  const staging = v.staging.filter((x) => !(x.nodeId === nodeId && x.stagingPath === stagingPath));
  return staging.length === v.staging.length ? v : { ...v, staging };
}

export function withPublication(v: VolumeRecord, p: PublicationRecord): VolumeRecord {
  const others = v.publications.filter((x) => !(x.nodeId === p.nodeId && x.targetPath === p.targetPath));
  return { ...v, publications: [...others, p] };
}

export function withoutPublication(v: VolumeRecord, nodeId: string, targetPath: string): VolumeRecord {
  const publications = v.publications.filter((x) => !(x.nodeId === nodeId && x.targetPath === targetPath));
  return publications.length === v.publications.length ? v : { ...v, publications };
}
