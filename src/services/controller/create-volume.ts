import { bytes } from '../../domain/bytes.js';
import { alreadyExists, invalidArgument, notFound, outOfRange, resourceExhausted } from '../../domain/errors.js';
import { parseSnapshotId, parseVolumeId, volumeIdForName } from '../../domain/ids.js';
import type { Capability, FsType } from '../../domain/volume.js';
import { planConsistentCopy } from '../../storage/copy-plan.js';
import { createVolumeFrom } from '../../storage/clones.js';
import type { ImagePool, NewVolume } from '../../storage/image-pool.js';
import type { VolumeRecord } from '../../storage/records.js';
import { decodeCapabilities } from '../capabilities.js';
import { localTopology, type ServiceContext } from '../context.js';
import { sizeForRange, sizeSatisfies, type WireCapacityRange } from '../capacity-range.js';
import { parseMutableParameters } from './mutable-parameters.js';
import { PARAM_FSTYPE, PARAM_PROVISIONING, parseVolumeParameters, type VolumeParameters } from './parameters.js';
import { copyOptions } from './create-snapshot.js';
import { checkFilesystemMinimum } from './fs-minimum.js';
import { volumeResponse } from './volume-response.js';
import type { CallContext, CreateVolumeRequest, CreateVolumeResponse } from '../../wire/types.js';

interface Source {
  kind: 'snapshot' | 'volume';
  id: string;
  pool: ImagePool;
  sizeBytes: number;
  imagePath: string;
  fsType: FsType;
  /** The source volume's record, for a clone: its use decides how it is copied. */
  volume?: VolumeRecord;
}

export async function createVolume(ctx: ServiceContext, req: CreateVolumeRequest, call?: CallContext): Promise<CreateVolumeResponse> {
  const name = req.name ?? '';
  if (!name) throw invalidArgument('name is required');
  const caps = decodeCapabilities(req.volume_capabilities);
  const parsed = parseVolumeParameters(req.parameters);
  checkCapabilityFsTypes(caps, parsed, Boolean(req.parameters?.[PARAM_FSTYPE]));
  const requestedFsType = requestedFilesystem(req, caps);
  const mutable = parseMutableParameters(req.mutable_parameters);
  const provisioning = mutable.provisioning ?? parsed.provisioning;
  const defining = mutable.provisioning ? { ...parsed.defining, [PARAM_PROVISIONING]: provisioning } : parsed.defining;
  const params = { ...parsed, fsType: requestedFsType ?? parsed.fsType, provisioning, defining };
  checkTopology(ctx, req.accessibility_requirements);
  const asked = sizeForRange(req.capacity_range);
  const id = volumeIdForName(name);

  return ctx.locks.runFor(
    call?.scope,
    `volume:${id}`,
    async () => {
      const existing = await ctx.pools.findVolume(id);
      if (existing && existing.record.state === 'ready') {
        checkCompatible(existing.record, req, params);
        return volumeResponse(ctx, existing.record);
      }
      const source = await findSource(ctx, req.volume_content_source);
      // With no size asked for, a restore or clone is as large as its source, not the default size.
      const size = source && !hasCapacityRange(req.capacity_range) ? bytes(source.sizeBytes) : asked;
      const pool = existing?.pool ?? (params.pool || !source ? ctx.pools.select(params.pool) : source.pool);
      if (source) checkSamePool(source.pool, pool, source.kind, source.id);
      if (existing?.record.state === 'deleting') await pool.deleteVolume(id);
      if (source && size < source.sizeBytes) {
        throw outOfRange(
          `the new volume (${size} bytes) must be at least as large as its ${source.kind} ${source.id} (${source.sizeBytes} bytes)`,
        );
      }
      checkFilesystemMinimum(size, requestedFsType ?? source?.fsType ?? params.fsType, caps);
      if (size > (await pool.maximumVolumeBytes())) {
        throw outOfRange(`${size} bytes is more than pool ${pool.name} can ever hold`);
      }
      // A clone is cut like a snapshot: never torn (design: Snapshots and clones). Refused before
      // anything is reserved; the write-back starts in the reservation's hold, beside its records.
      const plan = source?.volume ? await planConsistentCopy(pool, source.volume, ctx.nodeId, 'clone', { writeBack: false }) : {};
      const spec: NewVolume = {
        id,
        name,
        sizeBytes: size,
        // A restore or clone without an explicit filesystem keeps its source's.
        fsType: requestedFsType ?? source?.fsType ?? params.fsType,
        provisioning: params.provisioning,
        accessTypes: [...new Set(caps.map((c) => c.accessType))],
        source: source ? { kind: source.kind, id: source.id } : undefined,
        requestKey: requestKey(params, source),
        parameters: params.defining,
        kubernetes: params.kubernetes,
        topologyNode: ctx.mode === 'local' ? ctx.nodeId : undefined,
      };
      const create = () => (source ? createVolumeFrom(pool, spec, source, plan, copyOptions(ctx)) : pool.createVolume(spec));
      // The source of a clone waits, as for a snapshot: no DeleteVolume or expansion of it during the copy.
      const record = source?.volume ? await ctx.locks.runFor(call?.scope, `volume:${source.id}`, create) : await create();
      return volumeResponse(ctx, record);
    },
    `volume name ${name}`,
  );
}

function hasCapacityRange(r: WireCapacityRange | null | undefined): boolean {
  return Number(r?.required_bytes ?? 0) > 0 || Number(r?.limit_bytes ?? 0) > 0;
}

function requestKey(params: VolumeParameters, source: Pick<Source, 'kind' | 'id'> | undefined): string {
  return JSON.stringify({
    fsType: params.fsType,
    provisioning: params.provisioning,
    pool: params.pool ?? '',
    source: source ? `${source.kind}:${source.id}` : '',
  });
}

function checkCompatible(record: VolumeRecord, req: CreateVolumeRequest, params: VolumeParameters): void {
  const src = req.volume_content_source;
  const source = src?.snapshot
    ? { kind: 'snapshot' as const, id: src.snapshot.snapshot_id ?? '' }
    : src?.volume
      ? { kind: 'volume' as const, id: src.volume.volume_id ?? '' }
      : undefined;
  if (requestKey(params, source) !== record.requestKey) {
    throw alreadyExists(`volume ${record.name} already exists with other parameters or source`);
  }
  if (!sizeSatisfies(record.sizeBytes, req.capacity_range)) {
    throw alreadyExists(`volume ${record.name} already exists with size ${record.sizeBytes}, outside the requested capacity range`);
  }
}

/** The filesystem the request names: the StorageClass parameter, else a mount capability's fs_type. */
function requestedFilesystem(req: CreateVolumeRequest, caps: Capability[]): FsType | undefined {
  const param = req.parameters?.[PARAM_FSTYPE];
  if (param) return param as FsType;
  const fromCap = caps.find((c) => c.accessType === 'mount' && c.fsType)?.fsType;
  return fromCap ? (fromCap as FsType) : undefined;
}

/** Only an explicit parameter can contradict a capability (external-provisioner moves fstype into the capability). */
function checkCapabilityFsTypes(caps: Capability[], params: VolumeParameters, explicit: boolean): void {
  if (!explicit) return;
  for (const c of caps) {
    if (c.accessType === 'mount' && c.fsType && c.fsType !== params.fsType) {
      throw invalidArgument(`capability asks for ${c.fsType} but the parameters ask for ${params.fsType}`);
    }
  }
}

/** Local mode: the volume lives on this node, so a requirement that excludes it cannot be met. */
function checkTopology(ctx: ServiceContext, req: CreateVolumeRequest['accessibility_requirements']): void {
  const ours = localTopology(ctx);
  if (!ours || !req) return;
  const terms = (req.requisite?.length ? req.requisite : req.preferred) ?? [];
  if (terms.length === 0) return;
  const [[key, value]] = Object.entries(ours) as [[string, string]];
  if (!terms.some((t) => t.segments?.[key] === value)) {
    throw resourceExhausted(`this pool is on node ${value}; the accessibility requirements exclude it`);
  }
}

async function findSource(ctx: ServiceContext, src: CreateVolumeRequest['volume_content_source']): Promise<Source | undefined> {
  if (!src) return undefined;
  if (src.snapshot) {
    const id = parseSnapshotId(src.snapshot.snapshot_id);
    const found = id && (await ctx.pools.findSnapshot(id));
    if (!id || !found || found.record.state !== 'ready') throw notFound(`source snapshot ${src.snapshot.snapshot_id} does not exist`);
    return {
      kind: 'snapshot',
      id,
      pool: found.pool,
      sizeBytes: found.record.sizeBytes,
      imagePath: found.pool.snapshotImagePath(id),
      fsType: found.record.fsType,
    };
  }
  if (src.volume) {
    const id = parseVolumeId(src.volume.volume_id);
    const found = id && (await ctx.pools.findVolume(id));
    if (!id || !found || found.record.state !== 'ready') throw notFound(`source volume ${src.volume.volume_id} does not exist`);
    return {
      kind: 'volume',
      id,
      pool: found.pool,
      sizeBytes: found.record.sizeBytes,
      imagePath: found.pool.volumeImagePath(id),
      fsType: found.record.fsType,
      volume: found.record,
    };
  }
  throw invalidArgument('volume_content_source must name a snapshot or a volume');
}

function checkSamePool(sourcePool: ImagePool, target: ImagePool, kind: string, id: string): void {
  if (sourcePool !== target) {
    throw invalidArgument(
      `${kind} ${id} is in pool ${sourcePool.name}; a copy-on-write clone must stay in its pool, ` +
        `so create the volume in pool ${sourcePool.name}`,
    );
  }
}
