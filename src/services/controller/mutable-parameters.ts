import { echo } from '../../domain/clip.js';
import { invalidArgument } from '../../domain/errors.js';
import type { Provisioning } from '../../domain/volume.js';
import { PARAM_FSTYPE, PARAM_POOL, PARAM_PROVISIONING } from './parameters.js';

/** What a VolumeAttributesClass may change on a live volume (design: Volume attributes). */
export const MUTABLE_KEYS = [PARAM_PROVISIONING];
/** Set once at creation: the pool holds the image, the filesystem is on it. */
const IMMUTABLE: Record<string, string> = {
  [PARAM_POOL]: 'the image cannot move to another pool',
  [PARAM_FSTYPE]: 'the filesystem on the volume cannot be changed in place',
};

export interface MutableParameters {
  provisioning?: Provisioning;
}

/** Parses mutable_parameters; an immutable or unknown key is INVALID_ARGUMENT naming the key. */
export function parseMutableParameters(params: Record<string, string> | null | undefined): MutableParameters {
  const p = params ?? {};
  for (const key of Object.keys(p)) {
    if (IMMUTABLE[key])
      throw invalidArgument(`parameter "${key}" cannot be modified: ${IMMUTABLE[key]}; mutable keys are: ${MUTABLE_KEYS.join(', ')}`);
    if (!MUTABLE_KEYS.includes(key))
      throw invalidArgument(`unknown mutable parameter "${echo(key)}"; mutable keys are: ${MUTABLE_KEYS.join(', ')}`);
  }
  const out: MutableParameters = {};
  const prov = p[PARAM_PROVISIONING];
  if (prov !== undefined) {
    if (prov !== 'thin' && prov !== 'thick')
      throw invalidArgument(`${PARAM_PROVISIONING} "${echo(prov)}" is not supported; use thin or thick`);
    out.provisioning = prov;
  }
  return out;
}
