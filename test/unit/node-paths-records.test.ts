// Pure logic of the node service: request path checks and the record changes of stage/publish.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Code, QuarryError } from '../../src/domain/errors.js';
import { withPublication, withStaging, withoutPublication, withoutStaging } from '../../src/services/node/node-records.js';
import { checkRequestPath, volumePathOrNotFound } from '../../src/services/node/paths.js';
import type { PublicationRecord, VolumeRecord } from '../../src/storage/records.js';

const code = (c: Code) => (e: unknown) => e instanceof QuarryError && e.code === c;

test('checkRequestPath accepts absolute normal paths and strips a trailing slash', () => {
  assert.equal(checkRequestPath('/var/lib/kubelet/pods/x/mount', 'target_path'), '/var/lib/kubelet/pods/x/mount');
  assert.equal(checkRequestPath('/a/b/', 'target_path'), '/a/b');
  assert.equal(checkRequestPath('/a//b', 'target_path'), '/a/b');
  assert.equal(checkRequestPath('/', 'target_path'), '/');
});

test('checkRequestPath refuses relative paths, "..", control characters and empty values', () => {
  for (const bad of ['', 'relative/path', '/a/../etc', '/a/..', '/a\nb', '/a\0b', '/a\rb']) {
    assert.throws(() => checkRequestPath(bad, 'target_path'), code(Code.INVALID_ARGUMENT), JSON.stringify(bad));
  }
  assert.throws(() => checkRequestPath(undefined, 'staging_target_path'), /staging_target_path is required/);
});

test('volumePathOrNotFound: a path that cannot be ours holds no volume (NOT_FOUND), a missing one is INVALID_ARGUMENT', () => {
  assert.throws(() => volumePathOrNotFound('../x', 'volume_path'), code(Code.NOT_FOUND));
  assert.throws(() => volumePathOrNotFound('', 'volume_path'), code(Code.INVALID_ARGUMENT));
  assert.equal(volumePathOrNotFound('/x/y/', 'volume_path'), '/x/y');
});

const base = { id: 'vol-x', staging: [], publications: [] } as unknown as VolumeRecord;
const pub = (nodeId: string, targetPath: string, readOnly = false): PublicationRecord => ({
  nodeId,
  targetPath,
  readOnly,
  accessType: 'mount',
  accessMode: 'SINGLE_NODE_WRITER',
  mountFlags: [],
});

test('withStaging replaces the entry for the same node and path, keeps others', () => {
  const a = withStaging(base, { nodeId: 'n1', stagingPath: '/s', accessType: 'mount' });
  const b = withStaging(a, { nodeId: 'n1', stagingPath: '/s', accessType: 'mount', device: '/dev/loop3' });
  const c = withStaging(b, { nodeId: 'n2', stagingPath: '/s', accessType: 'mount' });
  assert.deepEqual(
    c.staging.map((s) => [s.nodeId, s.device]),
    [
      ['n1', '/dev/loop3'],
      ['n2', undefined],
    ],
  );
  assert.equal(withoutStaging(c, 'n1', '/s').staging.length, 1);
  assert.equal(withoutStaging(c, 'n9', '/s'), c, 'nothing to remove: the same record, no write needed');
});

test('withPublication keys on node and target path', () => {
  const a = withPublication(withPublication(base, pub('n1', '/t1')), pub('n1', '/t2'));
  const b = withPublication(a, pub('n1', '/t1', true));
  assert.deepEqual(
    b.publications.map((p) => [p.targetPath, p.readOnly]),
    [
      ['/t2', false],
      ['/t1', true],
    ],
  );
  assert.deepEqual(
    withoutPublication(b, 'n1', '/t2').publications.map((p) => p.targetPath),
    ['/t1'],
  );
  assert.equal(withoutPublication(b, 'n2', '/t1'), b);
});
