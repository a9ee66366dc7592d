// Doctor check: capabilities the node plugin needs beyond mounting. A warning, not a failure:
// everything but online ext4 growth works without it.
import { CAP_SYS_RESOURCE, hasCapability } from '../host/capabilities.js';
import { ok, warn, type CheckResult } from './result.js';

export async function checkCapabilities(): Promise<CheckResult> {
  const check = 'online ext4 expansion';
  if (await hasCapability(CAP_SYS_RESOURCE)) return ok(check, 'CAP_SYS_RESOURCE present: resize2fs can grow mounted ext4');
  return warn(
    check,
    'CAP_SYS_RESOURCE is missing, so the kernel refuses to grow a mounted ext4 filesystem (xfs and btrfs still grow online)',
    'run the node plugin privileged, or add SYS_RESOURCE to its capabilities; or use xfs volumes',
  );
}
