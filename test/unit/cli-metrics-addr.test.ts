/** --metrics-addr parsing and the status-code label of the RPC metrics. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig, UsageError } from '../../src/cli/config.js';
// Metrics label codes with the same codeName as the RPC log lines.
import { codeName } from '../../src/wire/errors.js';

const EP = ['--endpoint', 'unix:///run/quarry/csi.sock'];
const addr = (v: string) => parseConfig('controller', [...EP, `--metrics-addr=${v}`]).metricsAddr;
const usage = (err: unknown) => err instanceof UsageError && /invalid --metrics-addr .*pass \[host\]:port, such as :9810/.test(err.message);

test('metrics are off without the flag', () => {
  assert.equal(parseConfig('controller', EP).metricsAddr, undefined);
});

test('[host]:port: no host means every interface; port 0 picks a free port', () => {
  assert.deepEqual(addr(':9810'), { port: 9810 });
  assert.deepEqual(addr('127.0.0.1:9810'), { host: '127.0.0.1', port: 9810 });
  assert.deepEqual(addr('localhost:0'), { host: 'localhost', port: 0 });
  assert.deepEqual(addr('[::1]:9810'), { host: '::1', port: 9810 });
  assert.deepEqual(addr('[::]:65535'), { host: '::', port: 65535 });
});

test('refusals say what to pass', () => {
  for (const bad of [
    '',
    '9810',
    ':',
    'host:',
    ':65536',
    ':-1',
    ':98x0',
    '::1:9810',
    'a b:9810',
    'http://x:9810',
    '[::1]',
    ':9810/metrics',
  ]) {
    assert.throws(() => addr(bad), usage, `accepted --metrics-addr=${bad}`);
  }
});

test('status codes are labelled by their gRPC names', () => {
  assert.equal(codeName(0), 'OK');
  assert.equal(codeName(5), 'NOT_FOUND');
  assert.equal(codeName(8), 'RESOURCE_EXHAUSTED');
  assert.equal(codeName(99), 'UNKNOWN(99)'); // one name for logs and metrics
});
