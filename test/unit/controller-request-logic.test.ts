/** Pure request logic of the Controller service: sizes, parameters, page tokens, capabilities. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GiB, MiB } from '../../src/domain/bytes.js';
import { Code, QuarryError } from '../../src/domain/errors.js';
import { decodeCapabilities, decodeCapability } from '../../src/services/capabilities.js';
import { DEFAULT_VOLUME_SIZE, sizeForRange, sizeSatisfies } from '../../src/services/capacity-range.js';
import { decodePageToken, encodePageToken, paginate } from '../../src/services/controller/page-token.js';
import { parseVolumeParameters } from '../../src/services/controller/parameters.js';

const isCode = (code: Code, message?: RegExp) => (err: unknown) =>
  err instanceof QuarryError && err.code === code && (!message || message.test(err.message));

describe('sizeForRange', () => {
  test('rounds required_bytes up to a whole MiB', () => {
    assert.equal(sizeForRange({ required_bytes: 1 }), MiB);
    assert.equal(sizeForRange({ required_bytes: MiB }), MiB);
    assert.equal(sizeForRange({ required_bytes: MiB + 1 }), 2 * MiB);
    assert.equal(sizeForRange({ required_bytes: String(3 * GiB) }), 3 * GiB);
  });
  test('no range, or an empty one, is the documented default', () => {
    assert.equal(DEFAULT_VOLUME_SIZE, GiB);
    assert.equal(sizeForRange(undefined), DEFAULT_VOLUME_SIZE);
    assert.equal(sizeForRange(null), DEFAULT_VOLUME_SIZE);
    assert.equal(sizeForRange({}), DEFAULT_VOLUME_SIZE);
  });
  test('stays within limit_bytes', () => {
    assert.equal(sizeForRange({ required_bytes: MiB + 1, limit_bytes: 2 * MiB }), 2 * MiB);
    assert.equal(sizeForRange({ limit_bytes: 10 * MiB + 3 }), 10 * MiB);
    assert.equal(sizeForRange({ limit_bytes: 2 * GiB }), DEFAULT_VOLUME_SIZE);
    assert.throws(
      () => sizeForRange({ required_bytes: MiB + 1, limit_bytes: MiB + 2 }),
      isCode(Code.OUT_OF_RANGE, /no whole number of MiB/),
    );
    assert.throws(() => sizeForRange({ required_bytes: 5 * MiB, limit_bytes: 4 * MiB }), isCode(Code.OUT_OF_RANGE));
    assert.throws(() => sizeForRange({ limit_bytes: 1000 }), isCode(Code.OUT_OF_RANGE, /smallest volume/));
  });
  test('negative or non-numeric values are INVALID_ARGUMENT', () => {
    assert.throws(() => sizeForRange({ required_bytes: -1 }), isCode(Code.INVALID_ARGUMENT));
    assert.throws(() => sizeForRange({ required_bytes: 'lots' }), isCode(Code.INVALID_ARGUMENT));
  });
  test('sizeSatisfies checks a repeated request against an existing size', () => {
    assert.ok(sizeSatisfies(2 * MiB, { required_bytes: MiB + 1 }));
    assert.ok(sizeSatisfies(2 * MiB, undefined));
    assert.ok(!sizeSatisfies(2 * MiB, { required_bytes: 3 * MiB }));
    assert.ok(!sizeSatisfies(2 * MiB, { limit_bytes: MiB }));
  });
});

describe('parseVolumeParameters', () => {
  test('defaults: ext4, thin, no pool', () => {
    const p = parseVolumeParameters(undefined);
    assert.equal(p.fsType, 'ext4');
    assert.equal(p.provisioning, 'thin');
    assert.equal(p.pool, undefined);
    assert.deepEqual(p.defining, {});
  });
  test('accepted keys; Kubernetes names are kept apart from the defining parameters', () => {
    const p = parseVolumeParameters({
      pool: 'fast',
      'csi.storage.k8s.io/fstype': 'xfs',
      provisioning: 'thick',
      'csi.storage.k8s.io/pvc/name': 'data',
      'csi.storage.k8s.io/pvc/namespace': 'ns',
      'csi.storage.k8s.io/pv/name': 'pv-1',
    });
    assert.equal(p.pool, 'fast');
    assert.equal(p.fsType, 'xfs');
    assert.equal(p.provisioning, 'thick');
    assert.deepEqual(p.kubernetes, { pvcName: 'data', pvcNamespace: 'ns', pvName: 'pv-1' });
    assert.deepEqual(p.defining, { pool: 'fast', 'csi.storage.k8s.io/fstype': 'xfs', provisioning: 'thick' });
    assert.equal(parseVolumeParameters({ 'csi.storage.k8s.io/fstype': 'btrfs' }).fsType, 'btrfs');
  });
  test('an unknown key is INVALID_ARGUMENT listing the accepted keys', () => {
    assert.throws(
      () => parseVolumeParameters({ replicas: '3' }),
      isCode(Code.INVALID_ARGUMENT, /unknown parameter "replicas"; accepted keys are: pool, csi\.storage\.k8s\.io\/fstype, provisioning/),
    );
    assert.throws(() => parseVolumeParameters({ 'csi.storage.k8s.io/fstype': 'zfs' }), isCode(Code.INVALID_ARGUMENT, /ext4, xfs, btrfs/));
    assert.throws(() => parseVolumeParameters({ provisioning: 'eager' }), isCode(Code.INVALID_ARGUMENT, /thin or thick/));
  });
});

describe('page tokens', () => {
  const items = ['a', 'b', 'c', 'd', 'e'];
  test('keyset pagination over sorted keys', () => {
    const p1 = paginate(items, (x) => x, undefined, 2);
    assert.deepEqual(p1.page, ['a', 'b']);
    const p2 = paginate(items, (x) => x, p1.next_token, 2);
    assert.deepEqual(p2.page, ['c', 'd']);
    const p3 = paginate(items, (x) => x, p2.next_token, 2);
    assert.deepEqual(p3.page, ['e']);
    assert.equal(p3.next_token, '');
    assert.deepEqual(paginate(items, (x) => x, undefined, 0).page, items);
    assert.equal(paginate(items, (x) => x, undefined, 5).next_token, '');
  });
  test('an item deleted or added between pages does not shift the next page', () => {
    const p1 = paginate(items, (x) => x, undefined, 2);
    const changed = ['a', 'bb', 'c', 'e'];
    assert.deepEqual(paginate(changed, (x) => x, p1.next_token, 10).page, ['bb', 'c', 'e']);
  });
  test('a token that is not ours is ABORTED', () => {
    assert.equal(decodePageToken(encodePageToken('vol-x')), 'vol-x');
    for (const bad of [
      'nonsense',
      '3',
      Buffer.from('{"v":1,"after":""}').toString('base64url'),
      Buffer.from('{"v":2,"after":"x"}').toString('base64url'),
    ]) {
      assert.throws(() => decodePageToken(bad), isCode(Code.ABORTED), bad);
    }
  });
});

describe('volume capabilities', () => {
  const mount = (mode: string, fs_type = '') => ({ mount: { fs_type, mount_flags: [] }, access_mode: { mode } });
  test('single-node and read-only modes are accepted for filesystems', () => {
    for (const mode of [
      'SINGLE_NODE_WRITER',
      'SINGLE_NODE_READER_ONLY',
      'SINGLE_NODE_SINGLE_WRITER',
      'SINGLE_NODE_MULTI_WRITER',
      'MULTI_NODE_READER_ONLY',
    ]) {
      assert.equal(decodeCapability(mount(mode)).accessMode, mode);
    }
  });
  test('multi-node writers are refused with a clear message', () => {
    for (const mode of ['MULTI_NODE_SINGLE_WRITER', 'MULTI_NODE_MULTI_WRITER']) {
      assert.throws(
        () => decodeCapability(mount(mode)),
        isCode(Code.INVALID_ARGUMENT, /only one node may write; use a single-node or read-only access mode/),
      );
    }
  });
  test('block volumes take single-node modes only', () => {
    assert.equal(decodeCapability({ block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } }).accessType, 'block');
    assert.throws(
      () => decodeCapability({ block: {}, access_mode: { mode: 'MULTI_NODE_READER_ONLY' } }),
      isCode(Code.INVALID_ARGUMENT, /single-node/),
    );
  });
  test('missing access mode, access type or capabilities are INVALID_ARGUMENT', () => {
    assert.throws(() => decodeCapability({ mount: {} }), isCode(Code.INVALID_ARGUMENT, /access_mode/));
    assert.throws(() => decodeCapability({ access_mode: { mode: 'SINGLE_NODE_WRITER' } }), isCode(Code.INVALID_ARGUMENT, /mount or block/));
    assert.throws(() => decodeCapability(mount('UNKNOWN')), isCode(Code.INVALID_ARGUMENT));
    assert.throws(() => decodeCapability(mount('SINGLE_NODE_WRITER', 'ntfs')), isCode(Code.INVALID_ARGUMENT, /ntfs/));
    assert.throws(() => decodeCapabilities([]), isCode(Code.INVALID_ARGUMENT));
  });
});
