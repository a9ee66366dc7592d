/** Help is generated from the tables that parse the flags: every flag a command parses is in its help. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FLAG_OPTIONS, SERVE_FLAGS, parseConfig } from '../../src/cli/config.js';
import { DEMO_FLAGS } from '../../src/cli/demo.js';
import { DOCTOR_FLAGS, parseDoctorArgs } from '../../src/cli/doctor.js';
import { formatFlags, parseArgsOptions } from '../../src/cli/flag-table.js';
import { HELP, helpFor } from '../../src/cli/help.js';

test('each command help lists every flag its parser accepts, with the value placeholder', () => {
  for (const [command, table] of [
    ['controller', SERVE_FLAGS],
    ['node', SERVE_FLAGS],
    ['all', SERVE_FLAGS],
    ['doctor', DOCTOR_FLAGS],
    ['demo', DEMO_FLAGS],
  ] as const) {
    const help = helpFor(command);
    for (const [name, spec] of Object.entries(parseArgsOptions(table))) {
      const arg = (table as Record<string, { arg?: string }>)[name]!.arg;
      assert.ok(help.includes(`--${name}${arg ? ` ${arg}` : ''}`), `quarry ${command} --help lacks --${name} (${spec.type})`);
    }
  }
});

test("quarry doctor --help is doctor's own help and lists --json", () => {
  const help = helpFor('doctor');
  assert.notEqual(help, HELP);
  assert.match(help, /^quarry doctor - /);
  assert.match(help, /--json\s+print the results as JSON/);
  assert.equal(parseDoctorArgs(['--json']).json, true, 'and the parser accepts it');
});

test('the serving roles parse exactly the flags their help lists', () => {
  assert.deepEqual(Object.keys(FLAG_OPTIONS), Object.keys(SERVE_FLAGS));
  for (const name of Object.keys(SERVE_FLAGS)) assert.match(HELP, new RegExp(`--${name}\\b`));
  assert.equal(parseConfig('controller', ['--endpoint', 'unix:///x.sock']).driverName, SERVE_FLAGS.drivername.default);
});

test('defaults and repeatable flags are shown; long flag names wrap instead of running into the text', () => {
  const text = formatFlags({
    'a-very-long-flag-name-here': { type: 'string', arg: 'VALUE', default: 'x', help: 'does a thing' },
    many: { type: 'string', multiple: true, arg: 'V', help: 'more' },
  });
  assert.equal(
    text,
    '  --a-very-long-flag-name-here VALUE\n                               does a thing (default x)\n  --many V                     more; repeatable\n',
  );
});
