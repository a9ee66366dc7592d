import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDoctorArgs } from '../../src/cli/doctor.js';
import { UsageError } from '../../src/cli/config.js';
import { decideKernelFilesystems } from '../../src/doctor/kernel-fs.js';
import { containingMount, decideKubelet } from '../../src/doctor/kubelet.js';
import { decideLoop } from '../../src/doctor/loop.js';
import { decideFreeSpace, decideReflink, humanBytes } from '../../src/doctor/pool.js';
import { classifyPoolEntries } from '../../src/storage/pool-dir.js';
import { exitCodeFor, fail, formatJson, formatResult, ok, warn } from '../../src/doctor/result.js';
import { versionLine } from '../../src/doctor/tools.js';
import { parseMountInfo } from '../../src/host/mountinfo.js';
import { parseProcFilesystems } from '../../src/host/procfs.js';

test('lines have the documented shape', () => {
  assert.equal(formatResult(ok('loop devices', 'fine')), 'ok   loop devices: fine');
  assert.equal(formatResult(warn('x', 'meh')), 'warn x: meh');
  assert.equal(formatResult(warn('x', 'meh', 'do y')), 'warn x: meh — fix: do y');
  assert.equal(
    formatResult(fail('tool mkfs.xfs', 'not found', 'install xfsprogs')),
    'FAIL tool mkfs.xfs: not found — fix: install xfsprogs',
  );
  assert.equal(formatResult(fail('a', 'line1\nline2', 'f')), 'FAIL a: line1; line2 — fix: f', 'one line per check');
});

test('exit code: 1 only when something FAILs; warnings do not fail', () => {
  assert.equal(exitCodeFor([]), 0);
  assert.equal(exitCodeFor([ok('a', 'b'), warn('c', 'd')]), 0);
  assert.equal(exitCodeFor([ok('a', 'b'), fail('c', 'd', 'e')]), 1);
});

test('JSON output is an array of results', () => {
  const parsed = JSON.parse(formatJson([ok('a', 'b'), fail('c', 'd', 'e')])) as unknown[];
  assert.deepEqual(parsed, [
    { check: 'a', status: 'ok', detail: 'b' },
    { check: 'c', status: 'fail', detail: 'd', fix: 'e' },
  ]);
});

test('flags: pools, kubelet dir, json; bad flags are UsageErrors', () => {
  const o = parseDoctorArgs(['--pool', '/p1', '--pool', 'fast=/p2', '--kubelet-dir', '/k', '--json']);
  assert.deepEqual(o.pools, [
    { name: 'default', path: '/p1' },
    { name: 'fast', path: '/p2' },
  ]);
  assert.equal(o.kubeletDir, '/k');
  assert.equal(o.json, true);
  assert.equal(parseDoctorArgs([]).kubeletDir, '/var/lib/kubelet');
  assert.throws(() => parseDoctorArgs(['--nope']), UsageError);
  assert.throws(() => parseDoctorArgs(['stray']), UsageError);
  assert.throws(() => parseDoctorArgs(['--pool', 'Bad=/x']), /pass lowercase letters/);
  assert.throws(() => parseDoctorArgs(['--pool', 'a=/x', '--pool', 'a=/y']), /given twice/);
  assert.throws(() => parseDoctorArgs(['--pool']), UsageError);
});

test('kernel filesystems: a missing one is a warning naming modprobe', () => {
  const fs = parseProcFilesystems('nodev\tsysfs\nnodev\ttmpfs\n\text4\n\txfs\n');
  assert.deepEqual(fs.slice(0, 3), [
    { name: 'sysfs', nodev: true },
    { name: 'tmpfs', nodev: true },
    { name: 'ext4', nodev: false },
  ]);
  const r = decideKernelFilesystems(fs);
  assert.deepEqual(
    r.map((x) => x.status),
    ['ok', 'ok', 'warn'],
  );
  assert.match(r[2]!.fix!, /modprobe btrfs/);
  assert.match(r[2]!.detail, /autoload/);
});

const MI = [
  '22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
  '30 22 0:30 / /var rw,relatime - ext4 /dev/sda2 rw',
  '31 30 0:31 / /var/lib/kubelet rw,relatime master:7 - ext4 /dev/sda3 rw',
  '40 22 0:40 / /data rw shared:9 - xfs /dev/sdb rw',
].join('\n');

test('containing mount: longest prefix, not a sibling with a common prefix', () => {
  const e = parseMountInfo(MI);
  assert.equal(containingMount('/var/lib/kubelet/pods', e)?.mountId, 31);
  assert.equal(containingMount('/var/lib/kubeletx', e)?.mountId, 30);
  assert.equal(containingMount('/data', e)?.mountId, 40);
  assert.equal(containingMount('/etc', e)?.mountId, 22);
});

test('kubelet: shared is ok, private or slave FAILs with the fix, missing dir only warns', () => {
  const e = parseMountInfo(MI);
  const shared = decideKubelet('/data/k', { exists: true, isDirectory: true, canonical: '/data/k', mount: containingMount('/data/k', e)! });
  assert.equal(shared.status, 'ok');
  assert.match(shared.detail, /shared:9/);
  const priv = decideKubelet('/var/x', { exists: true, isDirectory: true, canonical: '/var/x', mount: containingMount('/var/x', e)! });
  assert.equal(priv.status, 'fail');
  assert.match(priv.detail, /private/);
  assert.match(priv.fix!, /mount --make-rshared \//);
  assert.match(priv.fix!, /Bidirectional/);
  const slave = decideKubelet('/var/lib/kubelet', {
    exists: true,
    isDirectory: true,
    canonical: '/var/lib/kubelet',
    mount: containingMount('/var/lib/kubelet', e)!,
  });
  assert.equal(slave.status, 'fail');
  assert.match(slave.detail, /slave/);
  const missing = decideKubelet('/var/lib/kubelet', { exists: false });
  assert.equal(missing.status, 'warn');
  assert.match(missing.detail, /not a Kubernetes node yet/);
  assert.equal(decideKubelet('/f', { exists: true, isDirectory: false }).status, 'fail');
});

test('pool classification: marker, empty, interrupted init, foreign', () => {
  assert.equal(classifyPoolEntries([], new Set()), 'empty');
  assert.equal(classifyPoolEntries(['quarry-pool.json', 'volumes'], new Set()), 'pool');
  assert.equal(classifyPoolEntries(['volumes', 'nodes'], new Set(['volumes', 'nodes'])), 'interrupted');
  assert.equal(classifyPoolEntries(['volumes', '.quarry-pool.json.ab12.tmp'], new Set(['volumes'])), 'interrupted');
  assert.equal(classifyPoolEntries(['volumes'], new Set()), 'foreign', 'a non-empty volumes dir without marker is not ours');
  assert.equal(classifyPoolEntries(['lost+found'], new Set()), 'foreign');
  assert.equal(classifyPoolEntries(['.other.tmp'], new Set()), 'foreign');
});

test('reflink and free space decisions', () => {
  const yes = decideReflink('pool a reflink', true);
  assert.equal(yes.status, 'ok');
  assert.equal(yes.detail, 'instant copy-on-write snapshots');
  const no = decideReflink('pool a reflink', false);
  assert.equal(no.status, 'warn');
  assert.equal(no.detail, 'snapshots will be sparse copies (use XFS with reflink=1 or btrfs)');
  assert.equal(decideFreeSpace('s', 10 * 2 ** 30, 20 * 2 ** 30).status, 'ok');
  assert.equal(decideFreeSpace('s', 10 * 2 ** 20, 20 * 2 ** 30).status, 'warn');
  assert.equal(humanBytes(512), '512 B');
  assert.equal(humanBytes(1.5 * 2 ** 30), '1.5 GiB');
});

test('loop decisions', () => {
  const good = decideLoop({ controlExists: true, dir: '/tmp', attach: { device: '/dev/loop3', directIo: true } });
  assert.deepEqual(
    good.map((r) => r.status),
    ['ok', 'ok'],
  );
  const noDio = decideLoop({
    controlExists: true,
    dir: '/tmp',
    attach: { device: '/dev/loop3', directIo: false, directIoFallback: 'EINVAL' },
  });
  assert.deepEqual(
    noDio.map((r) => r.status),
    ['ok', 'warn'],
    'direct I/O is only a warning',
  );
  const noCtl = decideLoop({ controlExists: false, dir: '/tmp' });
  assert.equal(noCtl[0]!.status, 'fail');
  assert.match(noCtl[0]!.fix!, /modprobe loop/);
  assert.match(noCtl[0]!.fix!, /\/dev/);
  const denied = decideLoop({ controlExists: true, dir: '/tmp', attachError: 'losetup: cannot open: Permission denied' });
  assert.equal(denied[0]!.status, 'fail');
  assert.match(denied[0]!.fix!, /root/);
});

test('tool version line', () => {
  assert.equal(
    versionLine("resize2fs 1.47.0 (5-Feb-2023)\nresize2fs: invalid option -- 'V'\nUsage: ...", 'resize2fs'),
    'resize2fs 1.47.0 (5-Feb-2023)',
  );
  assert.equal(versionLine('\n', 'x'), 'x ran');
});
