import type { NodeHandlers } from '../../wire/types.js';

/**
 * The Node service of the pool-less local-mode controller: the endpoint of the central
 * external-resizer, which holds no volume (design: Expansion in local mode).
 *
 * external-resizer v2 decides at start which resizer to run. The controller claims no
 * EXPAND_VOLUME (it cannot grow an image it does not hold), so the resizer asks the *same*
 * socket for NodeGetCapabilities; with EXPAND_VOLUME there it runs its "trivial" resizer, which
 * only records the new size, and the kubelet on the owning node then calls NodeExpandVolume.
 * Without a Node service the resizer exits at start and no claim ever grows.
 *
 * The answer is the driver's: its node plugin grows volumes. This process serves no other Node
 * RPC (gRPC answers UNIMPLEMENTED), since it holds no pool and stages nothing.
 */
export function resizerEndpointNodeService(): NodeHandlers {
  return {
    NodeGetCapabilities: async () => ({ capabilities: [{ rpc: { type: 'EXPAND_VOLUME' } }] }),
  };
}
