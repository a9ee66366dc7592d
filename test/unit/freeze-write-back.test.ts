// The write-back before a freeze runs only when the host has enough unwritten file data for it to
// pay for its fork (design: Freeze); when that cannot be read, it runs as it always did.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostUnwrittenBytes, parseUnwrittenBytes } from '../../src/host/meminfo.js';
import { WRITE_BACK_MIN_BYTES, writeBackWorthIt } from '../../src/storage/copy-plan.js';

const SAMPLE = `MemTotal:        8129060 kB
MemFree:          512344 kB
Dirty:              3724 kB
Writeback:            12 kB
AnonPages:        901234 kB
WritebackTmp:          0 kB
`;

test('Dirty + Writeback are read from /proc/meminfo text, in bytes (WritebackTmp is not Writeback)', () => {
  assert.equal(parseUnwrittenBytes(SAMPLE), (3724 + 12) * 1024);
  assert.equal(parseUnwrittenBytes(SAMPLE.replace(/^Writeback:.*$/m, '')), undefined, 'a missing line is no figure');
  assert.equal(parseUnwrittenBytes(''), undefined);
});

test("this host's /proc/meminfo gives a figure; an unreadable file gives none", () => {
  const live = hostUnwrittenBytes();
  assert.equal(typeof live, 'number');
  assert.ok(live! >= 0);
  assert.equal(hostUnwrittenBytes('/nonexistent/meminfo'), undefined);
});

test('the write-back runs from WRITE_BACK_MIN_BYTES of unwritten data up, and whenever the figure is unknown', () => {
  assert.equal(writeBackWorthIt(undefined), true);
  assert.equal(writeBackWorthIt(0), false);
  assert.equal(writeBackWorthIt(WRITE_BACK_MIN_BYTES - 1), false);
  assert.equal(writeBackWorthIt(WRITE_BACK_MIN_BYTES), true);
  assert.equal(writeBackWorthIt(1024 * 1024 * 1024), true);
});
