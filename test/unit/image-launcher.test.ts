/**
 * The image's launcher (/usr/local/bin/quarry, written by the Dockerfile) gives node V8 flags that
 * NODE_OPTIONS does not admit (design: Process footprint). The benches start quarry with the same
 * flags, read from the Dockerfile; node refuses a flag it does not know, so a runtime that dropped
 * one would stop every quarry process: this suite runs on the image's Node major too (.ci/run).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { imageNodeArgs } from '../../bench/lib/quarry.js';

test('the benches find the launcher flags in the Dockerfile, and this node accepts every one', async () => {
  const flags = imageNodeArgs();
  assert.ok(flags.length > 0, 'the launcher gives node no flag');
  for (const flag of flags) assert.match(flag, /^--[a-z0-9-]+(=\S+)?$/, `not a single flag: ${flag}`);
  const exit = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = execFile(process.execPath, [...flags, '-e', '0'], { timeout: 30_000 }, (err, _out, stderr) =>
      resolve({ code: err ? (child.exitCode ?? -1) : 0, stderr }),
    );
  });
  assert.equal(exit.code, 0, `node ${process.version} refuses ${flags.join(' ')}: ${exit.stderr}`);
});
