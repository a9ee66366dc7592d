// Identity service against real processes: plugin info, truthful capabilities per mode, Probe per pool.
import assert from 'node:assert/strict';
import { mkdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { run } from '../../src/host/exec.js';
import { call } from '../helpers/grpc-client.js';
import { rejectsWithCode, scratchPoolDir, startQuarry } from '../helpers/quarry-process.js';
import { makeTempDir, onCleanup } from '../helpers/scratch.js';

const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

async function capabilitiesOf(q: Awaited<ReturnType<typeof startQuarry>>) {
  const r = await call(q.clients.identity, 'GetPluginCapabilities', {});
  return r.capabilities.map((c) => c.service?.type ?? `expansion:${c.volume_expansion?.type}`).sort();
}

describe('Identity', () => {
  it('GetPluginInfo names the driver from --drivername and the version from package.json', async (t) => {
    const dir = await makeTempDir(t, 'identity');
    const q = await startQuarry(t, { role: 'controller', dir, args: ['--drivername', 'example.quarry.dev'] });
    const info = await call(q.clients.identity, 'GetPluginInfo', {});
    assert.equal(info.name, 'example.quarry.dev');
    assert.equal(info.vendor_version, pkg.version);
  });

  it('GetPluginCapabilities describes the plugin as deployed in each mode', async (t) => {
    const dir = await makeTempDir(t, 'identity-caps');
    const pool = join(dir, 'pool');
    await mkdir(pool);
    const localController = await startQuarry(t, { role: 'controller', dir, args: ['--nodeid', 'n1', '--pool', pool] });
    // SnapshotMetadata only where the snapshot images are: a controller with pools (design: Changed-block metadata).
    assert.deepEqual(await capabilitiesOf(localController), [
      'CONTROLLER_SERVICE',
      'GROUP_CONTROLLER_SERVICE',
      'SNAPSHOT_METADATA_SERVICE',
      'VOLUME_ACCESSIBILITY_CONSTRAINTS',
      'expansion:ONLINE',
    ]);
    const node = await startQuarry(t, { role: 'node', dir, args: ['--nodeid', 'n1', '--pool', pool] });
    // The plugin as deployed has a Controller service, so the node's socket says so too.
    assert.deepEqual(await capabilitiesOf(node), [
      'CONTROLLER_SERVICE',
      'GROUP_CONTROLLER_SERVICE',
      'VOLUME_ACCESSIBILITY_CONSTRAINTS',
      'expansion:ONLINE',
    ]);
    const sharedController = await startQuarry(t, { role: 'controller', dir, args: ['--shared', '--pool', pool] });
    assert.deepEqual(await capabilitiesOf(sharedController), [
      'CONTROLLER_SERVICE',
      'GROUP_CONTROLLER_SERVICE',
      'SNAPSHOT_METADATA_SERVICE',
      'expansion:ONLINE',
    ]);
    // The resizer's stub holds no pool: it offers a Controller service that claims no RPC, and no snapshot metadata.
    const stub = await startQuarry(t, { role: 'controller', dir });
    assert.ok(!(await capabilitiesOf(stub)).includes('SNAPSHOT_METADATA_SERVICE'));
    const ctrl = await call(stub.clients.controller, 'ControllerGetCapabilities', {});
    assert.deepEqual(ctrl.capabilities, []);
    assert.deepEqual((await call(stub.clients.groupController, 'GroupControllerGetCapabilities', {})).capabilities, []);
  });

  it('Probe is ready only while every pool is usable, and names the pool that is not', async (t) => {
    const dir = await makeTempDir(t, 'identity-probe');
    const fast = await scratchPoolDir(t, { fsType: 'ext4', sizeBytes: 64 * 1024 * 1024 }, 'fast');
    const slow = await scratchPoolDir(t, { fsType: 'ext4', sizeBytes: 64 * 1024 * 1024 }, 'slow');
    const q = await startQuarry(t, {
      role: 'node',
      dir,
      args: ['--nodeid', 'n1', '--pool', `fast=${fast.path}`, '--pool', `slow=${slow.path}`],
    });
    assert.equal((await call(q.clients.identity, 'Probe', {})).ready?.value, true);

    // A pool whose filesystem went read-only (as after an I/O error) is not usable.
    await run('mount', ['-o', 'remount,ro', slow.fs.mountPath]);
    onCleanup(t, () => run('mount', ['-o', 'remount,rw', slow.fs.mountPath]));
    await rejectsWithCode(call(q.clients.identity, 'Probe', {}), status.FAILED_PRECONDITION, /pool slow .*not usable/);
    await run('mount', ['-o', 'remount,rw', slow.fs.mountPath]);
    assert.equal((await call(q.clients.identity, 'Probe', {})).ready?.value, true);

    // A pool whose marker vanished is not a pool any more.
    await rename(join(fast.path, 'quarry-pool.json'), join(fast.path, 'marker.moved'));
    await rejectsWithCode(call(q.clients.identity, 'Probe', {}), status.FAILED_PRECONDITION, /pool fast .*not usable/);
    await rename(join(fast.path, 'marker.moved'), join(fast.path, 'quarry-pool.json'));
    assert.equal((await call(q.clients.identity, 'Probe', {})).ready?.value, true);
  });
});
