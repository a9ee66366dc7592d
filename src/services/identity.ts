import { failedPrecondition } from '../domain/errors.js';
import type { IdentityHandlers } from '../wire/types.js';
import type { ServiceContext } from './context.js';

export interface IdentityOptions {
  /** True when this process serves the Controller service. */
  servesController: boolean;
}

/** CSI Identity: who we are, what this process offers, and whether its pools are usable. */
export function identityService(ctx: ServiceContext, opts: IdentityOptions): IdentityHandlers {
  return {
    async GetPluginInfo() {
      return { name: ctx.driverName, vendor_version: ctx.version, manifest: {} };
    },

    async GetPluginCapabilities() {
      const capabilities: object[] = [];
      if (opts.servesController) capabilities.push({ service: { type: 'CONTROLLER_SERVICE' } });
      if (ctx.mode === 'local') capabilities.push({ service: { type: 'VOLUME_ACCESSIBILITY_CONSTRAINTS' } });
      // Online expansion: by the controller in shared mode, by the owning node in local mode.
      capabilities.push({ volume_expansion: { type: 'ONLINE' } });
      return { capabilities };
    },

    async Probe() {
      for (const pool of ctx.pools.pools.values()) {
        const problem = await pool.probe();
        if (problem) throw failedPrecondition(problem);
      }
      return { ready: { value: true } };
    },
  };
}
