import { createRequire } from 'node:module';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import protobuf from 'protobufjs';
import { csiProto, csiType } from '../../src/wire/proto.js';
import { REDACTED, holdsSecrets, isSecretField, redact, scrubber, secretValues } from '../../src/wire/redact.js';

const require = createRequire(import.meta.url);
const { root } = csiProto();
const SECRET = 'hunter2-SECRET';

test('CreateVolumeRequest.secrets is replaced, the rest is kept', () => {
  const req = {
    name: 'pvc-1',
    capacity_range: { required_bytes: 1024, limit_bytes: 0 },
    parameters: { pool: 'fast' },
    secrets: { password: SECRET, user: 'admin-user' },
    volume_capabilities: [
      { mount: { fs_type: 'ext4', mount_flags: [] }, access_mode: { mode: 'SINGLE_NODE_WRITER' }, access_type: 'mount' },
    ],
    volume_content_source: { snapshot: { snapshot_id: 'snap-x' }, type: 'snapshot' },
    mutable_parameters: {},
  };
  const out = redact(csiType(root, 'CreateVolumeRequest'), req);
  assert.equal(out.secrets, REDACTED);
  assert.equal(out.name, 'pvc-1');
  assert.deepEqual(out.parameters, { pool: 'fast' });
  assert.deepEqual(out.volume_content_source, { snapshot: { snapshot_id: 'snap-x' }, type: 'snapshot' });
  assert.equal((out.volume_capabilities as any[])[0].access_type, 'mount');
  assert.ok(!JSON.stringify(out).includes(SECRET));
  assert.ok(!JSON.stringify(out).includes('password'), 'secret keys are gone too');
  // the input is not modified
  assert.equal(req.secrets.password, SECRET);
});

test('NodeStageVolumeRequest.secrets is replaced; empty secrets are dropped', () => {
  const type = csiType(root, 'NodeStageVolumeRequest');
  const withSecrets = redact(type, { volume_id: 'vol-a', staging_target_path: '/s', secrets: { key: SECRET } });
  assert.equal(withSecrets.secrets, REDACTED);
  assert.equal(withSecrets.volume_id, 'vol-a');
  const without = redact(type, { volume_id: 'vol-a', secrets: {} });
  assert.ok(!('secrets' in without));
});

test('unknown keys are not copied; non-objects redact to {}', () => {
  const out = redact(csiType(root, 'DeleteVolumeRequest'), { volume_id: 'v', password: SECRET, secrets: { p: SECRET } });
  assert.deepEqual(out, { volume_id: 'v', secrets: REDACTED });
  assert.deepEqual(redact(csiType(root, 'DeleteVolumeRequest'), null), {});
  assert.deepEqual(redact(csiType(root, 'DeleteVolumeRequest'), 'x'), {});
});

test('secrets nested in messages, repeated fields and map values are found by the option alone', () => {
  // A synthetic contract: the walk is driven only by [(csi_secret) = true].
  const r = protobuf.parse(
    `syntax = "proto3";
     package t;
     import "google/protobuf/descriptor.proto";
     extend google.protobuf.FieldOptions { bool csi_secret = 1059; }
     message Inner { string token = 1 [(csi_secret) = true]; string label = 2; }
     message Outer {
       Inner one = 1;
       repeated Inner many = 2;
       map<string, Inner> by_name = 3;
       repeated string keys = 4 [(csi_secret) = true];
       string plain = 5;
     }`,
    new protobuf.Root().loadSync(require.resolve('protobufjs/google/protobuf/descriptor.proto')),
    { keepCase: true },
  ).root;
  r.resolveAll();
  const outer = r.lookupType('t.Outer');
  const out = redact(outer, {
    one: { token: 'tok-ONE-secret', label: 'l1' },
    many: [
      { token: 'tok-MANY-secret', label: 'l2' },
      { token: '', label: 'l3' },
    ],
    by_name: { a: { token: 'tok-MAP-secret', label: 'l4' } },
    keys: ['k-SECRET-1'],
    plain: 'visible',
  });
  assert.deepEqual(out, {
    one: { token: REDACTED, label: 'l1' },
    many: [{ token: REDACTED, label: 'l2' }, { label: 'l3' }],
    by_name: { a: { token: REDACTED, label: 'l4' } },
    keys: REDACTED,
    plain: 'visible',
  });
  assert.ok(isSecretField(r.lookupType('t.Inner').fields.token!));
  assert.ok(!isSecretField(r.lookupType('t.Inner').fields.label!));
  assert.deepEqual(
    secretValues(outer, { one: { token: 'a1x' }, many: [{ token: 'b2y' }], by_name: { k: { token: 'c3z' } }, keys: ['d4w'] }).sort(),
    ['a1x', 'b2y', 'c3z', 'd4w'],
  );
});

test('every secret field in the contract is redacted (no list of names)', () => {
  let count = 0;
  const visit = (ns: protobuf.NamespaceBase) => {
    for (const o of ns.nestedArray) {
      if (o instanceof protobuf.Type) {
        for (const f of o.fieldsArray) {
          if (!isSecretField(f)) continue;
          count++;
          const value = f.map ? { k: SECRET } : f.repeated ? [SECRET] : SECRET;
          const out = redact(o, { [f.name]: value });
          assert.equal(out[f.name], REDACTED, `${o.fullName}.${f.name}`);
        }
      }
      if (o instanceof protobuf.Namespace) visit(o);
    }
  };
  visit(root.lookup('csi') as protobuf.Namespace);
  assert.equal(count, 19);
});

test('scrubber removes secret values from text, longest first', () => {
  const scrub = scrubber(['abc', 'abcdef', 'x']);
  assert.equal(scrub('got abcdef and abc and x'), `got ${REDACTED} and ${REDACTED} and x`);
  assert.equal(scrubber([])('same'), 'same');
  const type = csiType(root, 'CreateVolumeRequest');
  assert.deepEqual(secretValues(type, { name: 'n', secrets: { password: SECRET } }), [SECRET]);
});

test('holdsSecrets: true for requests with a secret field at any depth, false for the rest', () => {
  const root = csiProto().root;
  const type = (name: string) => root.lookupType(`csi.v1.${name}`);
  for (const name of [
    'CreateVolumeRequest',
    'NodeStageVolumeRequest',
    'NodePublishVolumeRequest',
    'CreateSnapshotRequest',
    'DeleteVolumeRequest',
  ]) {
    assert.equal(holdsSecrets(type(name)), true, name);
  }
  for (const name of [
    'ProbeRequest',
    'GetPluginInfoRequest',
    'NodeGetVolumeStatsRequest',
    'NodeGetInfoRequest',
    'ControllerGetCapabilitiesRequest',
  ]) {
    assert.equal(holdsSecrets(type(name)), false, name);
  }
});
