import { invalidArgument, notFound, QuarryError } from '../../domain/errors.js';
import { parseVolumeId } from '../../domain/ids.js';
import type { ValidateVolumeCapabilitiesRequest, ValidateVolumeCapabilitiesResponse } from '../../wire/types.js';
import { decodeCapability } from '../capabilities.js';
import type { ServiceContext } from '../context.js';
import { parseVolumeParameters } from './parameters.js';

export async function validateVolumeCapabilities(
  ctx: ServiceContext,
  req: ValidateVolumeCapabilitiesRequest,
): Promise<ValidateVolumeCapabilitiesResponse> {
  if (!req.volume_id) throw invalidArgument('volume_id is required');
  if (!req.volume_capabilities?.length) throw invalidArgument('volume_capabilities must not be empty');
  const id = parseVolumeId(req.volume_id);
  const found = id && (await ctx.pools.findVolume(id));
  if (found?.record.state !== 'ready') throw notFound(`volume ${req.volume_id} does not exist`);
  try {
    parseVolumeParameters(req.parameters);
    const caps = req.volume_capabilities.map(decodeCapability);
    for (const c of caps) {
      if (c.accessType === 'mount' && c.fsType && c.fsType !== found.record.fsType) {
        return { message: `volume ${id} holds ${found.record.fsType}, not ${c.fsType}` };
      }
    }
    return {
      confirmed: {
        volume_context: req.volume_context ?? {},
        volume_capabilities: req.volume_capabilities,
        parameters: req.parameters ?? {},
        mutable_parameters: {},
      },
    };
  } catch (err) {
    // Unsupported capabilities are an answer here, not an error.
    if (err instanceof QuarryError) return { message: err.message };
    throw err;
  }
}
