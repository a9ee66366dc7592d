#!/usr/bin/env node
import { packageVersion } from '../version.js';
import { parseConfig, ROLES, UsageError, type Role } from './config.js';

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    const { HELP } = await import('./help.js'); // help loads every command's flag table
    process.stdout.write(HELP);
    return command ? 0 : 2;
  }
  if (command === '--version' || command === 'version') {
    process.stdout.write(`quarry ${packageVersion()}\n`);
    return 0;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    const { helpFor } = await import('./help.js');
    process.stdout.write(helpFor(command));
    return 0;
  }
  if ((ROLES as readonly string[]).includes(command)) {
    const { serve } = await import('./serve.js');
    await serve(parseConfig(command as Role, rest));
    return -1; // keep running until a signal
  }
  if (command === 'doctor') {
    const { doctor } = await import('./doctor.js');
    return doctor(rest);
  }
  if (command === 'demo') {
    const { demo } = await import('./demo.js');
    return demo(rest);
  }
  throw new UsageError(`unknown command "${command}": pass controller, node, all, doctor or demo (see quarry --help)`);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`quarry: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`quarry: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
