// The upstream CSI conformance suite, against separate controller and node processes sharing one pool.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { GiB } from '../../src/domain/bytes.js';
import { listLoops } from '../../src/host/losetup.js';
import { mountsUnder } from '../../src/host/mountinfo.js';
import { makeScratchFs } from '../helpers/scratch.js';
import { startQuarry } from '../helpers/quarry-process.js';
import { canResizeExt4Online, runCsiSanity, writeParametersFile } from './sanity-runner.js';

interface Skip {
  spec: string;
  reason: string;
}

interface SanityRun {
  name: string;
  shared?: boolean;
  flags?: (dir: string) => Promise<string[]>;
  skips?: Skip[];
}

/** The kernel refuses online ext4 growth without CAP_SYS_RESOURCE; root on this CI host lacks it. xfs and block runs cover node expansion. */
const EXT4_ONLINE_RESIZE_SKIPS: Skip[] = (await canResizeExt4Online())
  ? []
  : [
      {
        spec: 'should work if node-expand is called after node-publish',
        reason: 'no CAP_SYS_RESOURCE: the kernel refuses online ext4 resize here',
      },
    ];

/**
 * Specs the suite skips by itself, from the capabilities Quarry reports (csi-sanity v5.6.0, checked with -ginkgo.v):
 * - every mode: ControllerGetVolumeHealth, ControllerListVolumeHealth, NodeGetVolumeHealth, NodeGetStorageHealth
 *   and "snapshot with accessibility requirements" test RPCs and capabilities of CSI v1.13 (the suite builds
 *   against spec v1.13.0). Quarry speaks v1.12, byte-identical to its descriptor in test/fixtures, and reports
 *   health through VOLUME_CONDITION in ControllerGetVolume / ListVolumes / NodeGetVolumeStats, which do run.
 * - shared mode: "publishing more volumes than the node max attach limit" runs only with
 *   -csi.testnodevolumeattachlimit, not enabled here: the limit is kubelet's to enforce from NodeGetInfo.
 * - local mode: ControllerPublish/Unpublish, the publish steps of "volume lifecycle", and ControllerExpandVolume
 *   (local mode has no attach step and the owning node expands: design, Deploy modes); ModifyVolume and "volume
 *   attribute class" at creation (the central resizer cannot reach a node's pool: design, Volume attributes).
 *
 * Shared mode offers ControllerModifyVolume (MODIFY_VOLUME): the suite modifies its volumes with these
 * VolumeAttributesClass parameters. Local mode does not advertise it (the central resizer cannot reach a
 * node's pool), so there the suite skips its ModifyVolume specs by capability, not by a flag of ours.
 * The GroupController specs run in every mode: both offer CREATE_DELETE_GET_VOLUME_GROUP_SNAPSHOT.
 */
const MUTABLE_PARAMETERS = async (dir: string) => [
  '-csi.testvolumemutableparameters',
  await writeParametersFile(dir, { provisioning: 'thin' }, 'mutable-parameters.yaml'),
];

export const RUNS: SanityRun[] = [
  { name: 'mount volumes, ext4 (default)', skips: EXT4_ONLINE_RESIZE_SKIPS },
  {
    name: 'mount volumes, xfs',
    flags: async (dir) => ['-csi.testvolumeparameters', await writeParametersFile(dir, { 'csi.storage.k8s.io/fstype': 'xfs' })],
  },
  { name: 'block volumes', flags: async () => ['-csi.testvolumeaccesstype', 'block'] },
  { name: 'shared mode, mount volumes, ext4', shared: true, flags: MUTABLE_PARAMETERS, skips: EXT4_ONLINE_RESIZE_SKIPS },
  {
    name: 'shared mode, block volumes',
    shared: true,
    flags: async (dir) => ['-csi.testvolumeaccesstype', 'block', ...(await MUTABLE_PARAMETERS(dir))],
  },
];

async function sanityAgainstQuarry(t: TestContext, run: SanityRun) {
  // A sparse reflink XFS pool: the suite's 10 GiB volumes cost almost nothing real. Sockets, staging and
  // target dirs live in the scratch dir too, so its cleanup unmounts and detaches whatever a failed run left.
  const fs = await makeScratchFs(t, { fsType: 'xfs', sizeBytes: 200 * GiB });
  const dir = fs.dir;
  const pool = join(fs.mountPath, 'pool');
  await mkdir(pool);
  const common = ['--nodeid', 'sanity-node', '--pool', pool, '--log-level', 'warn', ...(run.shared ? ['--shared'] : [])];
  const controller = await startQuarry(t, { role: 'controller', dir, args: common });
  // The suite's staging and target dirs are below `dir`: that is this node's kubelet directory.
  const node = await startQuarry(t, { role: 'node', dir, args: [...common, '--kubelet-dir', dir] });
  const skips = run.skips ?? [];
  for (const s of skips) t.diagnostic(`skipping "${s.spec}": ${s.reason}`);
  const result = await runCsiSanity([
    '-csi.endpoint',
    node.socketPath,
    '-csi.controllerendpoint',
    controller.socketPath,
    '-csi.stagingdir',
    join(dir, 'staging'),
    '-csi.mountdir',
    join(dir, 'mount'),
    ...(run.flags ? await run.flags(dir) : []),
    ...(skips.length ? ['-ginkgo.skip', skips.map((s) => s.spec).join('|')] : []),
  ]);
  t.diagnostic(`${run.name}: ${result.summary}: ${result.passed} passed, ${result.failed} failed, ${result.skipped} skipped`);
  assert.equal(
    result.failed,
    0,
    `csi-sanity failures:\n${result.failures.join('\n')}\n\ncontroller log:\n${controller.stderr()}${controller.stdout()}\nnode log:\n${node.stderr()}${node.stdout()}`,
  );
  assert.equal(result.exitCode, 0, result.log.slice(-4000));
  assert.ok(result.passed >= 40, `csi-sanity ran only ${result.passed} specs`);
  const volumeLoops = (await listLoops()).filter((l) => l.backingFile.startsWith(`${pool}/`));
  const mountsLeft = (await mountsUnder(dir)).filter((m) => m.mountPoint !== fs.mountPath);
  assert.deepEqual(
    [...volumeLoops.map((l) => l.device), ...mountsLeft.map((m) => m.mountPoint)],
    [],
    'the suite left loop devices or mounts behind',
  );
}

describe('csi-sanity against separate quarry controller and node processes', { concurrency: false }, () => {
  for (const run of RUNS) {
    it(run.name, { timeout: 20 * 60_000 }, (t) => sanityAgainstQuarry(t, run));
  }
});
