/**
 * proto/csi.proto must be wire-identical to the CSI v1.12.0 contract, kept as data in
 * test/fixtures/csi-v1.12.0.descriptor.json. This test compares the two structurally, in
 * both directions, and lists every difference it finds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { findCsiProto, loadProtobufRoot } from '../../src/wire/proto.js';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const protoPath = findCsiProto(here);
const repoRoot = path.dirname(path.dirname(protoPath));
const descriptorPath = path.join(repoRoot, 'test', 'fixtures', 'csi-v1.12.0.descriptor.json');

type Json = Record<string, any>;

function readDescriptor(): Json {
  return JSON.parse(readFileSync(descriptorPath, 'utf8')) as Json;
}

/**
 * The descriptor names google.protobuf types (FieldOptions, Int64Value, Timestamp...) without
 * defining them; give it protobufjs's definitions so every reference resolves.
 */
function rootFromDescriptor(json: Json): protobuf.Root {
  const googleNested = (j: Json): Json => j.nested.google.nested.protobuf.nested;
  const descriptorJson = require('protobufjs/google/protobuf/descriptor.json') as Json;
  const common = (name: string): Json => googleNested(protobuf.common.get(`google/protobuf/${name}.proto`) as Json);
  const google = { ...googleNested(descriptorJson), ...common('wrappers'), ...common('timestamp') };
  return protobuf.Root.fromJSON({
    nested: { ...json.nested, google: { nested: { protobuf: { nested: google } } } },
  } as protobuf.INamespace);
}

// ---------------------------------------------------------------------------------------------
// The comparator

type Kind = 'message' | 'enum' | 'service' | 'extension' | 'namespace' | 'other';

function kindOf(o: protobuf.ReflectionObject): Kind {
  if (o instanceof protobuf.Type) return 'message';
  if (o instanceof protobuf.Enum) return 'enum';
  if (o instanceof protobuf.Service) return 'service';
  if (o instanceof protobuf.Field) return 'extension';
  if (o instanceof protobuf.Namespace) return 'namespace';
  return 'other';
}

const strip = (name: string) => name.replace(/^\./, '');

/** Every reflection object under the top-level `csi` namespace, by full name. */
function collect(root: protobuf.Root): Map<string, protobuf.ReflectionObject> {
  const out = new Map<string, protobuf.ReflectionObject>();
  const walk = (o: protobuf.ReflectionObject) => {
    out.set(strip(o.fullName), o);
    if (o instanceof protobuf.Namespace) for (const child of o.nestedArray) walk(child);
  };
  const csi = root.nested?.csi;
  if (csi) walk(csi);
  return out;
}

const show = (v: unknown) => (v === undefined ? '(unset)' : JSON.stringify(v));

function compareOptions(diffs: string[], where: string, a: Json | undefined, b: Json | undefined): void {
  const keys = new Set([...Object.keys(a ?? {}), ...Object.keys(b ?? {})]);
  for (const k of [...keys].sort()) {
    const va = a?.[k];
    const vb = b?.[k];
    if (JSON.stringify(va) !== JSON.stringify(vb)) diffs.push(`${where}: option ${k} ${show(va)} != ${show(vb)}`);
  }
}

function cmp(diffs: string[], where: string, what: string, a: unknown, b: unknown): void {
  if (a !== b) diffs.push(`${where}: ${what} ${show(a)} != ${show(b)}`);
}

function sideBySide<T>(
  diffs: string[],
  where: string,
  what: string,
  a: Record<string, T>,
  b: Record<string, T>,
  each: (name: string, x: T, y: T) => void,
): void {
  for (const name of Object.keys(a)) if (!(name in b)) diffs.push(`${where}.${name}: ${what} only in csi.proto`);
  for (const name of Object.keys(b)) if (!(name in a)) diffs.push(`${where}.${name}: ${what} only in the descriptor`);
  for (const name of Object.keys(a)) if (name in b) each(name, a[name] as T, b[name] as T);
}

const typeName = (f: protobuf.Field) => (f.resolvedType ? strip(f.resolvedType.fullName) : f.type);
const keyTypeOf = (f: protobuf.Field) => (f instanceof protobuf.MapField ? f.keyType : undefined);
const ruleOf = (f: protobuf.Field) => (f.map ? 'map' : f.repeated ? 'repeated' : 'singular');

function compareField(diffs: string[], where: string, a: protobuf.Field, b: protobuf.Field): void {
  cmp(diffs, where, 'id', a.id, b.id);
  cmp(diffs, where, 'type', typeName(a), typeName(b));
  cmp(diffs, where, 'rule', ruleOf(a), ruleOf(b));
  if (a.map || b.map) cmp(diffs, where, 'keyType', keyTypeOf(a), keyTypeOf(b));
  cmp(diffs, where, 'oneof', a.partOf?.name, b.partOf?.name);
  if (a.extend !== undefined || b.extend !== undefined) {
    cmp(diffs, where, 'extends', a.extend && strip(a.extend), b.extend && strip(b.extend));
  }
  compareOptions(diffs, where, a.options, b.options);
}

/** Every difference between two roots' `csi` namespaces, as readable lines (a = csi.proto, b = descriptor). */
export function compareRoots(a: protobuf.Root, b: protobuf.Root): string[] {
  const diffs: string[] = [];
  const ma = collect(a);
  const mb = collect(b);
  for (const name of ma.keys()) if (!mb.has(name)) diffs.push(`${name}: ${kindOf(ma.get(name)!)} only in csi.proto`);
  for (const name of mb.keys()) if (!ma.has(name)) diffs.push(`${name}: ${kindOf(mb.get(name)!)} only in the descriptor`);

  for (const [name, x] of ma) {
    const y = mb.get(name);
    if (!y) continue;
    const kind = kindOf(x);
    if (kind !== kindOf(y)) {
      diffs.push(`${name}: is a ${kind} in csi.proto but a ${kindOf(y)} in the descriptor`);
      continue;
    }
    if (kind !== 'extension') compareOptions(diffs, name, x.options, y.options);

    if (x instanceof protobuf.Type && y instanceof protobuf.Type) {
      sideBySide(diffs, name, 'field', x.fields, y.fields, (f, fa, fb) => compareField(diffs, `${name}.${f}`, fa, fb));
      sideBySide(diffs, name, 'oneof', x.oneofs ?? {}, y.oneofs ?? {}, (o, oa, ob) =>
        cmp(diffs, `${name}.${o}`, 'oneof members', [...oa.oneof].sort().join(','), [...ob.oneof].sort().join(',')),
      );
    } else if (x instanceof protobuf.Enum && y instanceof protobuf.Enum) {
      sideBySide(diffs, name, 'enum value', x.values, y.values, (v, va, vb) => {
        cmp(diffs, `${name}.${v}`, 'number', va, vb);
        compareOptions(diffs, `${name}.${v}`, x.valuesOptions?.[v], y.valuesOptions?.[v]);
      });
    } else if (x instanceof protobuf.Service && y instanceof protobuf.Service) {
      sideBySide(diffs, name, 'method', x.methods, y.methods, (m, ma2, mb2) => {
        const where = `${name}.${m}`;
        cmp(diffs, where, 'request', strip(ma2.resolvedRequestType!.fullName), strip(mb2.resolvedRequestType!.fullName));
        cmp(diffs, where, 'response', strip(ma2.resolvedResponseType!.fullName), strip(mb2.resolvedResponseType!.fullName));
        cmp(diffs, where, 'requestStream', !!ma2.requestStream, !!mb2.requestStream);
        cmp(diffs, where, 'responseStream', !!ma2.responseStream, !!mb2.responseStream);
        compareOptions(diffs, where, ma2.options, mb2.options);
      });
    } else if (x instanceof protobuf.Field && y instanceof protobuf.Field) {
      compareField(diffs, name, x, y);
    }
  }
  return diffs;
}

// ---------------------------------------------------------------------------------------------

test('proto/csi.proto is wire-identical to the CSI v1.12.0 descriptor', () => {
  const fromProto = loadProtobufRoot(protoPath);
  const fromDescriptor = rootFromDescriptor(readDescriptor());
  const objects = collect(fromDescriptor);
  // Not vacuous: the descriptor really holds the CSI surface.
  assert.ok(objects.size > 100, `only ${objects.size} objects under csi in the descriptor`);
  assert.ok(objects.has('csi.v1.Controller') && objects.has('csi.v1.CreateVolumeRequest'));
  const diffs = compareRoots(fromProto, fromDescriptor);
  assert.deepEqual(diffs, []);
});

test('csi.proto marks secrets exactly where the descriptor does', () => {
  const root = loadProtobufRoot(protoPath);
  const secrets = [...collect(root).values()]
    .filter((o): o is protobuf.Type => o instanceof protobuf.Type)
    .flatMap((t) => t.fieldsArray.filter((f) => f.options?.['(csi_secret)'] === true).map((f) => `${strip(t.fullName)}.${f.name}`));
  assert.ok(secrets.includes('csi.v1.CreateVolumeRequest.secrets'));
  assert.ok(secrets.includes('csi.v1.NodeStageVolumeRequest.secrets'));
  assert.ok(secrets.includes('csi.v1.NodeExpandVolumeRequest.secrets'));
  assert.equal(secrets.length, 19);
});

test('the comparator catches every kind of difference (it cannot pass vacuously)', () => {
  const fromProto = loadProtobufRoot(protoPath);
  assert.deepEqual(compareRoots(fromProto, fromProto), []);

  const d = structuredClone(readDescriptor());
  const v1 = d.nested.csi.nested.v1.nested;
  v1.CreateVolumeRequest.fields.secrets.id = 9; // wrong field number
  delete v1.NodeStageVolumeRequest.fields.secrets.options; // dropped csi_secret
  v1.GetCapacityResponse.fields.minimum_volume_size.options = {}; // dropped alpha_field
  v1.CreateVolumeRequest.fields.name.type = 'bytes'; // wrong type
  v1.TopologyRequirement.fields.requisite.rule = undefined; // no longer repeated
  v1.Topology.fields.segments.keyType = 'int32'; // wrong map key
  delete v1.Controller.methods.GetSnapshot.options; // dropped alpha_method
  v1.SnapshotMetadata.methods.GetMetadataDelta.responseStream = false; // streaming flag
  v1.VolumeUsage.nested.Unit.values.INODES = 3; // enum value number
  delete v1.PluginCapability.nested.Service.nested.Type.valuesOptions; // dropped alpha_enum_value
  delete v1.VolumeCondition.options; // dropped alpha_message
  v1.Identity.methods.Probe.responseType = 'GetPluginInfoResponse'; // wrong response
  v1.VolumeCapability.oneofs.access_type.oneof = ['block']; // mount left the oneof
  delete v1.DeleteVolumeResponse; // missing message (and the method now answers with another one)
  v1.Controller.methods.DeleteVolume.responseType = 'DeleteSnapshotResponse';
  delete v1.Volume.fields.content_source; // missing field
  v1.ExtraRequest = { fields: { x: { type: 'string', id: 1 } } }; // extra message
  v1.csi_secret.id = 1061; // wrong extension number

  const diffs = compareRoots(fromProto, rootFromDescriptor(d));
  const expected = [
    'csi.v1.CreateVolumeRequest.secrets: id 5 != 9',
    'csi.v1.NodeStageVolumeRequest.secrets: option (csi_secret) true != (unset)',
    'csi.v1.GetCapacityResponse.minimum_volume_size: option (alpha_field) true != (unset)',
    'csi.v1.CreateVolumeRequest.name: type "string" != "bytes"',
    'csi.v1.TopologyRequirement.requisite: rule "repeated" != "singular"',
    'csi.v1.Topology.segments: keyType "string" != "int32"',
    'csi.v1.Controller.GetSnapshot: option (alpha_method) true != (unset)',
    'csi.v1.SnapshotMetadata.GetMetadataDelta: responseStream true != false',
    'csi.v1.VolumeUsage.Unit.INODES: number 2 != 3',
    'csi.v1.PluginCapability.Service.Type.SNAPSHOT_METADATA_SERVICE: option (alpha_enum_value) true != (unset)',
    'csi.v1.VolumeCondition: option (alpha_message) true != (unset)',
    'csi.v1.Identity.Probe: response "csi.v1.ProbeResponse" != "csi.v1.GetPluginInfoResponse"',
    'csi.v1.VolumeCapability.mount: oneof "access_type" != (unset)',
    'csi.v1.DeleteVolumeResponse: message only in csi.proto',
    'csi.v1.Controller.DeleteVolume: response "csi.v1.DeleteVolumeResponse" != "csi.v1.DeleteSnapshotResponse"',
    'csi.v1.Volume.content_source: field only in csi.proto',
    'csi.v1.ExtraRequest: message only in the descriptor',
    'csi.v1.csi_secret: id 1059 != 1061',
  ];
  for (const line of expected) assert.ok(diffs.includes(line), `expected diff not reported: ${line}\nreported:\n${diffs.join('\n')}`);
  // And the mutation is seen from the other direction too.
  const reverse = compareRoots(rootFromDescriptor(d), fromProto);
  assert.ok(reverse.includes('csi.v1.CreateVolumeRequest.secrets: id 9 != 5'), reverse.join('\n'));
  assert.ok(reverse.includes('csi.v1.DeleteVolumeResponse: message only in the descriptor'));
});
