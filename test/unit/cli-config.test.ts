/** Flag parsing: every refusal is a UsageError (exit 2) saying what to pass. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig, UsageError, DEFAULT_DRIVER_NAME } from '../../src/cli/config.js';

const usage = (pattern: RegExp) => (err: unknown) => err instanceof UsageError && pattern.test(err.message);
const EP = ['--endpoint', 'unix:///run/quarry/csi.sock'];

test('defaults and named pools', () => {
  const c = parseConfig('all', [...EP, '--nodeid', 'worker-1', '--pool', 'fast=/mnt/a', '--pool', 'slow=/mnt/b']);
  assert.deepEqual(c.pools, [
    { name: 'fast', path: '/mnt/a' },
    { name: 'slow', path: '/mnt/b' },
  ]);
  assert.equal(c.driverName, DEFAULT_DRIVER_NAME);
  assert.equal(c.overprovisioning, 1);
  assert.equal(c.socketMode, 0o600);
  assert.equal(c.shared, false);
  assert.deepEqual(parseConfig('node', [...EP, '--nodeid', 'n', '--pool', '/p']).pools, [{ name: 'default', path: '/p' }]);
  assert.equal(parseConfig('controller', [...EP, '--overprovisioning', '2.5']).overprovisioning, 2.5);
});

test('a controller needs a node only in local mode with pools', () => {
  assert.equal(parseConfig('controller', EP).pools.length, 0);
  assert.doesNotThrow(() => parseConfig('controller', [...EP, '--shared', '--pool', '/p']));
  assert.throws(() => parseConfig('controller', [...EP, '--pool', '/p']), usage(/missing --nodeid/));
});

test('refusals say what to pass', () => {
  assert.throws(() => parseConfig('controller', []), usage(/missing --endpoint: pass --endpoint unix:/));
  assert.throws(() => parseConfig('controller', ['--endpoint', '/x.sock']), usage(/pass a unix socket/));
  assert.throws(() => parseConfig('node', [...EP, '--nodeid', 'n']), usage(/missing --pool/));
  assert.throws(() => parseConfig('node', [...EP, '--nodeid', 'a/b', '--pool', '/p']), usage(/invalid --nodeid/));
  assert.throws(() => parseConfig('controller', [...EP, '--overprovisioning=-1']), usage(/greater than 0/));
  assert.throws(() => parseConfig('controller', [...EP, '--max-volumes-per-node', '1.5']), usage(/whole number/));
  assert.throws(() => parseConfig('controller', [...EP, '--socket-mode', '999']), usage(/octal mode/));
  assert.throws(() => parseConfig('controller', [...EP, '--drivername', 'Not_A_DNS']), usage(/DNS name/));
  assert.throws(() => parseConfig('all', [...EP, '--nodeid', 'n', '--pool', 'UP=/p']), usage(/invalid pool name/));
  assert.throws(() => parseConfig('all', [...EP, '--nodeid', 'n', '--pool', 'x=']), usage(/--pool \[name=\]/));
  assert.throws(() => parseConfig('controller', [...EP, 'extra']), usage(/quarry --help/));
});

test('--kubelet-dir: default /var/lib/kubelet, absolute paths only', () => {
  assert.equal(parseConfig('node', [...EP, '--nodeid', 'n', '--pool', '/p']).kubeletDir, '/var/lib/kubelet');
  assert.equal(
    parseConfig('node', [...EP, '--nodeid', 'n', '--pool', '/p', '--kubelet-dir', '/data/kubelet/']).kubeletDir,
    '/data/kubelet',
  );
  for (const bad of ['relative', '/a/../b']) {
    assert.throws(() => parseConfig('node', [...EP, '--nodeid', 'n', '--pool', '/p', '--kubelet-dir', bad]), /invalid --kubelet-dir/);
  }
});
