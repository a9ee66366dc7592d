// CSI's size limits, checked from the contract: which fields, which limits, and that no message echoes the value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { csiProto, CSI_PACKAGE } from '../../src/wire/proto.js';
import { checkRequestBounds, MAX_MAP_BYTES } from '../../src/wire/request-bounds.js';
import { toServiceError } from '../../src/wire/errors.js';
import { echo } from '../../src/domain/clip.js';
import { notFound } from '../../src/domain/errors.js';

const type = (name: string) => csiProto().root.lookupType(`${CSI_PACKAGE}.${name}`);
const refused = (name: string, msg: object, pattern: RegExp) =>
  assert.throws(
    () => checkRequestBounds(type(name), msg),
    (e: Error & { code: number }) => {
      assert.equal(e.code, status.INVALID_ARGUMENT);
      assert.match(e.message, pattern);
      assert.ok(!e.message.includes('xxxxxxxx'), `the value is echoed: ${e.message}`);
      return true;
    },
  );
const x = (n: number) => 'x'.repeat(n);
const CAP = { mount: { fs_type: 'ext4', mount_flags: [] as string[] }, access_mode: { mode: 'SINGLE_NODE_WRITER' } };

test('strings: 128 bytes, counted in UTF-8', () => {
  checkRequestBounds(type('DeleteVolumeRequest'), { volume_id: x(128) });
  refused('DeleteVolumeRequest', { volume_id: x(129) }, /^volume_id is 129 bytes; CSI allows at most 128 bytes$/);
  // 64 two-byte characters are 128 bytes; 65 are over.
  checkRequestBounds(type('CreateVolumeRequest'), { name: 'é'.repeat(64) });
  refused('CreateVolumeRequest', { name: 'é'.repeat(65) }, /^name is 130 bytes/);
});

test('node IDs may be 256 bytes and paths 4096: the kubelet needs more than 128', () => {
  checkRequestBounds(type('ControllerPublishVolumeRequest'), { volume_id: 'v', node_id: x(256) });
  refused('ControllerPublishVolumeRequest', { volume_id: 'v', node_id: x(257) }, /node_id is 257 bytes; .* 256/);
  checkRequestBounds(type('NodeStageVolumeRequest'), { volume_id: 'v', staging_target_path: `/${x(4095)}` });
  refused('NodeStageVolumeRequest', { volume_id: 'v', staging_target_path: `/${x(4096)}` }, /staging_target_path is 4097 bytes/);
});

test('nested and repeated strings are checked with their path', () => {
  refused(
    'NodeStageVolumeRequest',
    { volume_capability: { ...CAP, mount: { fs_type: 'ext4', mount_flags: ['ro', x(200)] } } },
    /^volume_capability\.mount\.mount_flags\[1\] is 200 bytes/,
  );
  refused(
    'CreateVolumeRequest',
    { name: 'n', volume_capabilities: [CAP, { ...CAP, mount: { fs_type: x(300) } }] },
    /^volume_capabilities\[1\]\.mount\.fs_type is 300 bytes/,
  );
  refused(
    'CreateVolumeRequest',
    { name: 'n', volume_content_source: { snapshot: { snapshot_id: x(129) } } },
    /^volume_content_source\.snapshot\.snapshot_id is 129/,
  );
});

test('maps: 4 KiB of keys and values in all, secrets included, topology segments too', () => {
  const under = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`k${String(i).padStart(3, '0')}`, x(120)])); // 32 * 124
  checkRequestBounds(type('CreateVolumeRequest'), { name: 'n', parameters: under, secrets: under });
  const over = { ...under, extra: x(MAX_MAP_BYTES) };
  refused('CreateVolumeRequest', { name: 'n', parameters: over }, /^parameters holds more than 4096 bytes/);
  refused('CreateVolumeRequest', { name: 'n', secrets: over }, /^secrets holds more than 4096 bytes/);
  refused(
    'CreateVolumeRequest',
    { name: 'n', accessibility_requirements: { requisite: [{ segments: over }] } },
    /^accessibility_requirements\.requisite\[0\]\.segments holds more/,
  );
});

test('every echo of user input is clipped', () => {
  assert.equal(echo('vol-1'), 'vol-1');
  const e = echo(x(5000));
  assert.ok(e.length < 200 && e.endsWith('(5000 characters)'), e);
  const err = toServiceError(notFound(`volume ${x(100_000)} does not exist`));
  assert.ok(err.details.length < 1100, `${err.details.length} characters`);
  assert.match(err.details, /clipped from 100022 characters/);
});
