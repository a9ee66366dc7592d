import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseNodeId, parseSnapshotId, parseVolumeId, snapshotIdForName, volumeIdForName } from '../../src/domain/ids.js';

describe('Quarry IDs', () => {
  it('are short, opaque and never hold "/", "." or whitespace', () => {
    for (const id of [volumeIdForName('pvc-1'), snapshotIdForName('snap/../x'), volumeIdForName('a b\n.c')]) {
      assert.ok(id.length <= 25, id);
      assert.doesNotMatch(id, /[/.\s]/);
    }
  });

  it('derive the same ID from the same name, and different IDs from different names', () => {
    assert.equal(volumeIdForName('pvc-123'), volumeIdForName('pvc-123'));
    assert.notEqual(volumeIdForName('pvc-123'), volumeIdForName('pvc-124'));
    assert.match(volumeIdForName('x'), /^vol-/);
    assert.match(snapshotIdForName('x'), /^snap-/);
  });

  it('parse only their own syntax: anything else names nothing', () => {
    const good = volumeIdForName('ok');
    assert.equal(parseVolumeId(good), good);
    for (const bad of [
      '',
      '..',
      '../etc/passwd',
      'vol-../../x',
      `${good}/..`,
      `${good} `,
      good.toUpperCase(),
      snapshotIdForName('ok'),
      'fake-vol-id-1',
      undefined,
      null,
    ]) {
      assert.equal(parseVolumeId(bad as string), undefined, String(bad));
    }
    assert.equal(parseSnapshotId(volumeIdForName('ok')), undefined);
    assert.equal(parseSnapshotId(snapshotIdForName('ok')), snapshotIdForName('ok'));
  });

  it('node IDs accept Kubernetes node names, dotted ones included, and refuse path tricks', () => {
    for (const ok of ['node-1', 'worker_2', 'ip-10-0-0-1.ec2.internal', 'a']) assert.equal(parseNodeId(ok), ok);
    for (const bad of ['', '.', '..', '../x', 'a/b', '.hidden', 'trailing.', 'sp ace', 'x'.repeat(254)]) {
      assert.equal(parseNodeId(bad), undefined, bad);
    }
  });
});
