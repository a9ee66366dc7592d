/**
 * Applies the sandbox patches (sandbox-patches.ts) to rendered manifests: multi-document YAML
 * on stdin, the patched YAML on stdout. Fails when there is no workload to patch, so that a
 * change in the render cannot silently turn the patches into no-ops.
 *
 *   kustomize build deploy/kubernetes | node patch.js --api-server 127.0.0.1:6443 \
 *     --stand-in-image quarry.local/sidecar-stand-ins:e2e --first-port 19800
 */
import { text } from 'node:stream/consumers';
import { parseArgs } from 'node:util';
import YAML from 'yaml';
import { applySandboxPatches, SANDBOX_PATCHES } from './sandbox-patches.js';

const { values } = parseArgs({
  options: {
    'api-server': { type: 'string', default: '127.0.0.1:6443' },
    'stand-in-image': { type: 'string', default: 'quarry.local/sidecar-stand-ins:e2e' },
    'first-port': { type: 'string', default: '19800' },
  },
  strict: true,
});
const [host, port] = values['api-server']!.split(/:(?=\d+$)/);
const docs = YAML.parseAllDocuments(await text(process.stdin));
for (const d of docs) if (d.errors.length) throw new Error(`cannot parse the rendered manifests: ${d.errors[0]!.message}`);
const objects = docs.map((d) => d.toJS()).filter((o) => o !== null && o !== undefined);
const patched = applySandboxPatches(objects, {
  apiServerHost: host!,
  apiServerPort: Number(port),
  standInImage: values['stand-in-image']!,
  firstPort: Number(values['first-port']),
});
if (patched.length === 0) {
  process.stderr.write('patch.js: the rendered manifests hold no workload to patch\n');
  process.exit(1);
}
const header = [
  `# Rendered from deploy/ as docs/install.md says, then patched for the e2e sandbox (test/e2e/install):`,
  ...SANDBOX_PATCHES.map((p) => `#   ${p.name}: ${p.reason}`),
  `# Patched: ${patched.join(', ')}`,
].join('\n');
process.stdout.write(`${header}\n${objects.map((o) => YAML.stringify(o, { lineWidth: 0 })).join('---\n')}`);
