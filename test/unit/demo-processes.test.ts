/**
 * `quarry demo` must exit as soon as it has finished: stopping a service leaves no timer behind
 * that would hold the event loop open (it used to wait out a 15 s grace sleep).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startService } from '../../src/demo/processes.js';
import { makeTempDir } from '../helpers/scratch.js';

// Stands in for `quarry <role>`: creates its "socket" file and exits on SIGTERM.
const STAND_IN = `
const endpoint = process.argv[process.argv.indexOf('--endpoint') + 1];
require('node:fs').writeFileSync(endpoint.replace(/^unix:\\/\\//, ''), '');
process.on('SIGTERM', () => process.exit(0));
setInterval(() => {}, 1000);
`;

test('stopping a demo service cancels its grace timer once the process has exited', async (t) => {
  const dir = await makeTempDir(t, 'demo');
  const entry = join(dir, 'stand-in.cjs');
  await writeFile(entry, STAND_IN);
  const svc = await startService('node', dir, [], entry);
  await svc.stop();
  const timers = process.getActiveResourcesInfo().filter((r) => r === 'Timeout');
  assert.deepEqual(timers, [], 'a timer outlives stop(): the demo would hang until it fires');
});
