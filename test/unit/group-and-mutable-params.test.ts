// Pure request logic of group snapshots and ModifyVolume: what is refused, and how it is named.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Code, QuarryError } from '../../src/domain/errors.js';
import { groupSnapshotIdForName, parseGroupSnapshotId } from '../../src/domain/ids.js';
import { parseMutableParameters } from '../../src/services/controller/mutable-parameters.js';
import { checkSnapshotIds, isWhole } from '../../src/services/group-controller/find-group.js';
import { groupMemberId } from '../../src/storage/group-snapshots.js';
import type { SnapshotRecord } from '../../src/storage/records.js';

const invalid = (fn: () => unknown, message: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof QuarryError && e.code === Code.INVALID_ARGUMENT && message.test(e.message));

test('mutable parameters: provisioning changes; immutable and unknown keys are refused by name', () => {
  assert.deepEqual(parseMutableParameters({ provisioning: 'thick' }), { provisioning: 'thick' });
  assert.deepEqual(parseMutableParameters({}), {});
  assert.deepEqual(parseMutableParameters(undefined), {});
  invalid(() => parseMutableParameters({ pool: 'fast' }), /"pool" cannot be modified/);
  invalid(() => parseMutableParameters({ 'csi.storage.k8s.io/fstype': 'xfs' }), /"csi.storage.k8s.io\/fstype" cannot be modified/);
  invalid(() => parseMutableParameters({ iops: '5' }), /unknown mutable parameter "iops"; mutable keys are: provisioning/);
  invalid(() => parseMutableParameters({ provisioning: 'THICK' }), /provisioning "THICK" is not supported/);
});

test('group IDs derive from the name, members from the name and source; malformed IDs name nothing', () => {
  const id = groupSnapshotIdForName('g');
  assert.match(id, /^group-[a-z2-7]{20}$/);
  assert.equal(parseGroupSnapshotId(id), id);
  assert.equal(groupSnapshotIdForName('g'), id);
  assert.notEqual(groupSnapshotIdForName('h'), id);
  for (const bad of ['', 'group-../x', 'snap-aaaaaaaaaaaaaaaaaaaa', `${id}/..`]) assert.equal(parseGroupSnapshotId(bad), undefined);
  assert.equal(groupMemberId('g', 'vol-a'), groupMemberId('g', 'vol-a'));
  assert.notEqual(groupMemberId('g', 'vol-a'), groupMemberId('g', 'vol-b'));
  assert.notEqual(groupMemberId('g', 'vol-a'), groupMemberId('h', 'vol-a'));
});

test('a group is whole only with all its members ready; a stranger snapshot ID is refused', () => {
  const member = (id: string, state: SnapshotRecord['state']) =>
    ({ id, state, group: { id: 'group-x', name: 'x', size: 2 } }) as SnapshotRecord;
  const pool = {} as never;
  assert.equal(isWhole({ pool, members: [member('snap-a', 'ready'), member('snap-b', 'ready')] }), true);
  assert.equal(isWhole({ pool, members: [member('snap-a', 'ready')] }), false, 'one member missing');
  assert.equal(isWhole({ pool, members: [member('snap-a', 'ready'), member('snap-b', 'creating')] }), false, 'one member unfinished');
  const members = [member('snap-a', 'ready'), member('snap-b', 'ready')];
  checkSnapshotIds('group-x', members, ['snap-b']);
  checkSnapshotIds('group-x', members, []);
  invalid(() => checkSnapshotIds('group-x', members, ['snap-a', 'snap-z']), /snap-z is not a member of group snapshot group-x/);
});
