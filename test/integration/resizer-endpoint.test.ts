// The local-mode resizer endpoint: the pool-less `quarry controller` that the central
// external-resizer talks to must answer the resizer's start-up calls so that it runs its
// node-only ("trivial") resizer (design: Expansion in local mode).
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { call } from '../helpers/grpc-client.js';
import { rejectsWithCode, startQuarry, type QuarryProcess } from '../helpers/quarry-process.js';
import { makeTempDir } from '../helpers/scratch.js';

type Choice = 'controller resizer' | 'trivial resizer' | 'no resizer';

/**
 * The calls external-resizer v2.3.0 makes at start, in its order (cmd/csi-resizer/main.go,
 * pkg/resizer/csi_resizer.go NewResizerFromClient, pkg/csi/client.go): Probe until ready,
 * GetPluginInfo, GetPluginCapabilities (needs CONTROLLER_SERVICE), ControllerGetCapabilities
 * (EXPAND_VOLUME?), and only when that is absent NodeGetCapabilities on the same socket
 * (EXPAND_VOLUME? then the trivial resizer). Any failed call makes the resizer exit.
 */
async function resizerStartUp(q: QuarryProcess): Promise<Choice> {
  const { identity, controller, node } = q.clients;
  assert.equal((await call(identity, 'Probe', {})).ready?.value, true);
  assert.equal((await call(identity, 'GetPluginInfo', {})).name, 'quarry.csi.dev');
  const plugin = await call(identity, 'GetPluginCapabilities', {});
  assert.ok(
    plugin.capabilities.some((c) => c.service?.type === 'CONTROLLER_SERVICE'),
    'the resizer needs CONTROLLER_SERVICE',
  );
  const ctrl = await call(controller, 'ControllerGetCapabilities', {});
  if (ctrl.capabilities.some((c) => c.rpc?.type === 'EXPAND_VOLUME')) return 'controller resizer';
  const nodeCaps = await call(node, 'NodeGetCapabilities', {});
  return nodeCaps.capabilities.some((c) => c.rpc?.type === 'EXPAND_VOLUME') ? 'trivial resizer' : 'no resizer';
}

describe('local-mode resizer endpoint', () => {
  it('the pool-less controller leads external-resizer to its node-only resizer', async (t) => {
    const dir = await makeTempDir(t, 'resizer-endpoint');
    const stub = await startQuarry(t, { role: 'controller', dir, args: ['--drivername', 'quarry.csi.dev'] });
    assert.equal(await resizerStartUp(stub), 'trivial resizer');
    // It holds no pool and stages nothing: every other Node RPC is refused, not pretended.
    await rejectsWithCode(call(stub.clients.node, 'NodeGetInfo', {}), status.UNIMPLEMENTED);
    await rejectsWithCode(
      call(stub.clients.node, 'NodeExpandVolume', { volume_id: 'pvc-1', volume_path: '/nowhere' }),
      status.UNIMPLEMENTED,
    );
    // And the controller still claims no RPC: it cannot grow an image it does not hold.
    assert.deepEqual((await call(stub.clients.controller, 'ControllerGetCapabilities', {})).capabilities, []);
  });

  it('the shared-mode controller grows volumes itself and serves no Node service', async (t) => {
    const dir = await makeTempDir(t, 'resizer-shared');
    const pool = join(dir, 'pool');
    await mkdir(pool);
    const shared = await startQuarry(t, { role: 'controller', dir, args: ['--drivername', 'quarry.csi.dev', '--shared', '--pool', pool] });
    assert.equal(await resizerStartUp(shared), 'controller resizer');
    await rejectsWithCode(call(shared.clients.node, 'NodeGetCapabilities', {}), status.UNIMPLEMENTED);
  });
});
