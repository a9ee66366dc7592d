/** ListVolumesResponse's encoder writes what protobufjs writes, whatever it kept from earlier answers. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deepFreeze } from '../../src/domain/freeze.js';
import { csiProto } from '../../src/wire/proto.js';

const { root, services } = csiProto();
const type = root.lookupType('csi.v1.ListVolumesResponse');
const method = services.get('Controller')!.ListVolumes!;
const plain = (value: unknown) => Buffer.from(type.encode(type.fromObject(value as Record<string, unknown>)).finish());

function volume(i: number) {
  return {
    volume_id: `vol-${i}`,
    capacity_bytes: 2 ** 30 * (i + 1) + i,
    volume_context: { pool: 'default', fsType: 'xfs' },
    content_source: i % 3 === 0 ? { snapshot: { snapshot_id: `snap-${i}` } } : null,
    accessible_topology: i % 2 ? [{ segments: { 'topology.quarry.io/node': `node-${i}` } }] : [],
  };
}

const healthy = { abnormal: false, message: 'volume is healthy' };
const status = (i: number) => ({
  published_node_ids: i % 4 ? [] : ['node-a', `node-${i}`],
  volume_condition: i % 5 ? healthy : { abnormal: true, message: `image ${i} is missing` },
});

test('the same bytes as protobufjs, for frozen and unfrozen volumes, on the first and every later answer', () => {
  const frozen = Array.from({ length: 300 }, (_, i) => deepFreeze(volume(i)));
  const frozenStatuses = frozen.map((_, i) => deepFreeze(status(i)));
  for (const round of [0, 1, 2, 3]) {
    // Kept entries (frozen volume and status, both the same objects as before), and some changed each round.
    const entries = frozen.map((v, i) => ({
      volume: i % 7 === round ? volume(i) : v,
      status: i % 11 === round ? status(i + round) : i % 13 === round ? deepFreeze(status(i + 1)) : frozenStatuses[i],
    }));
    for (const next_token of [undefined, '', 'vol-299', undefined]) {
      const value = { entries, ...(next_token === undefined ? {} : { next_token }) };
      const bytes = method.responseSerialize(value);
      assert.deepEqual(bytes, plain(value), `round ${round}, next_token ${JSON.stringify(next_token)}`);
      assert.deepEqual(method.responseDeserialize(bytes), method.responseDeserialize(plain(value)));
    }
  }
});

test('an entry without a volume, with no status, or an empty list: still what protobufjs writes', () => {
  for (const value of [
    { entries: [] },
    {},
    { entries: [{ volume: deepFreeze(volume(1)) }] },
    { entries: [{ volume: deepFreeze(volume(1)), status: null }] },
    { entries: [{ status: status(0) }, { volume: volume(2), status: status(2) }] },
    { entries: [{ volume: deepFreeze(volume(3)), status: { published_node_ids: ['n'] } }] },
  ]) {
    assert.deepEqual(method.responseSerialize(value), plain(value), JSON.stringify(value));
  }
});

test('an entry is kept only while its volume and status are the same frozen objects: a change is never served stale', () => {
  const v = volume(9);
  const st = status(1);
  const value = { entries: [{ volume: v, status: st }] };
  const first = method.responseSerialize(value);
  v.volume_id = 'vol-changed'; // not frozen: encoded anew
  assert.deepEqual(method.responseSerialize(value), plain(value));
  assert.notDeepEqual(method.responseSerialize(value), first);

  const fv = deepFreeze(volume(10));
  const fs1 = deepFreeze(status(0));
  assert.deepEqual(method.responseSerialize({ entries: [{ volume: fv, status: fs1 }] }), plain({ entries: [{ volume: fv, status: fs1 }] }));
  const fs2 = deepFreeze(status(1)); // a new status for the same volume
  assert.deepEqual(method.responseSerialize({ entries: [{ volume: fv, status: fs2 }] }), plain({ entries: [{ volume: fv, status: fs2 }] }));
  const unfrozen = status(0);
  assert.deepEqual(
    method.responseSerialize({ entries: [{ volume: fv, status: unfrozen }] }),
    plain({ entries: [{ volume: fv, status: unfrozen }] }),
  );
});
