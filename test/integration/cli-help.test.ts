/** The built CLI prints each command's own help and exits 0. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runQuarry } from '../helpers/quarry-process.js';

test("quarry doctor --help prints doctor's help, --json included, and exits 0", async () => {
  const r = await runQuarry(['doctor', '--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^quarry doctor - /);
  assert.match(r.stdout, /--json/);
  assert.match(r.stdout, /--kubelet-dir DIR/);
  const global = await runQuarry(['--help']);
  assert.notEqual(r.stdout, global.stdout);
});
