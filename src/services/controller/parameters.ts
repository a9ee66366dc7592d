import { invalidArgument } from '../../domain/errors.js';
import { FS_TYPES, type FsType, type Provisioning } from '../../domain/volume.js';

export const PARAM_POOL = 'pool';
export const PARAM_FSTYPE = 'csi.storage.k8s.io/fstype';
export const PARAM_PROVISIONING = 'provisioning';
/** Added by external-provisioner --extra-create-metadata; kept in the record. */
export const PARAM_PVC_NAME = 'csi.storage.k8s.io/pvc/name';
export const PARAM_PVC_NAMESPACE = 'csi.storage.k8s.io/pvc/namespace';
export const PARAM_PV_NAME = 'csi.storage.k8s.io/pv/name';

const ACCEPTED = [PARAM_POOL, PARAM_FSTYPE, PARAM_PROVISIONING, PARAM_PVC_NAME, PARAM_PVC_NAMESPACE, PARAM_PV_NAME];

export interface VolumeParameters {
  pool?: string;
  fsType: FsType;
  provisioning: Provisioning;
  kubernetes: { pvcName?: string; pvcNamespace?: string; pvName?: string };
  /** The parameters that define the volume, for the record (Kubernetes names excluded). */
  defining: Record<string, string>;
}

/** StorageClass parameters. An unknown key is refused, and the message lists the accepted ones. */
export function parseVolumeParameters(params: Record<string, string> | null | undefined): VolumeParameters {
  const p = params ?? {};
  const unknown = Object.keys(p).filter((k) => !ACCEPTED.includes(k));
  if (unknown.length > 0) {
    throw invalidArgument(`unknown parameter ${unknown.map((k) => `"${k}"`).join(', ')}; accepted keys are: ${ACCEPTED.join(', ')}`);
  }
  const fsType = (p[PARAM_FSTYPE] || 'ext4') as FsType;
  if (!FS_TYPES.includes(fsType)) {
    throw invalidArgument(`${PARAM_FSTYPE} "${fsType}" is not supported; use one of ${FS_TYPES.join(', ')}`);
  }
  const provisioning = (p[PARAM_PROVISIONING] || 'thin') as Provisioning;
  if (provisioning !== 'thin' && provisioning !== 'thick') {
    throw invalidArgument(`${PARAM_PROVISIONING} "${provisioning}" is not supported; use thin or thick`);
  }
  const defining: Record<string, string> = {};
  for (const k of [PARAM_POOL, PARAM_FSTYPE, PARAM_PROVISIONING]) if (p[k]) defining[k] = p[k];
  return {
    pool: p[PARAM_POOL] || undefined,
    fsType,
    provisioning,
    kubernetes: { pvcName: p[PARAM_PVC_NAME], pvcNamespace: p[PARAM_PVC_NAMESPACE], pvName: p[PARAM_PV_NAME] },
    defining,
  };
}
