/**
 * `quarry --help` and `quarry <command> --help`, generated from the flag tables that parse each
 * command's flags (src/cli/flag-table.ts), so help and parsing cannot drift apart.
 */
import { SERVE_FLAGS } from './config.js';
import { DEMO_FLAGS } from './demo.js';
import { DOCTOR_FLAGS, DOCTOR_USAGE } from './doctor.js';
import { formatFlags } from './flag-table.js';

const INTRO = `quarry - a Kubernetes CSI driver for image pools with real capacity limits,
copy-on-write snapshots and online expansion.
`;

const COMMANDS = `Usage:
  quarry controller [flags]   serve the CSI Identity and Controller services
  quarry node [flags]         serve the CSI Identity and Node services
  quarry all [flags]          serve Identity, Controller and Node in one process
  quarry doctor [flags]       check this host before installing (quarry doctor --help)
  quarry demo [--dir DIR]     walk one volume through its whole life on a local pool
  quarry --version | --help
`;

/** The global help; also what `quarry controller|node|all --help` print (they share the flags). */
export const HELP = `${INTRO}
${COMMANDS}
Flags of controller, node and all:
${formatFlags(SERVE_FLAGS)}
A controller started with no --pool holds no data: it is the stub that the central
external-resizer talks to in local mode.
`;

const DOCTOR_HELP = `quarry doctor - check this host before installing: loop devices, host tools, kernel
filesystems, capabilities, the kubelet directory and any pools named. Exits 0 when all
checks pass, 1 when one fails.

Usage:
  ${DOCTOR_USAGE}

Flags:
${formatFlags(DOCTOR_FLAGS)}`;

const DEMO_HELP = `quarry demo - walk one volume through its whole life on a local pool, with real
controller and node processes, printing each step.

Usage:
  quarry demo [--dir DIR]

Flags:
${formatFlags(DEMO_FLAGS)}`;

/** Help for one command; the global help for the serving roles and anything unknown. */
export function helpFor(command: string | undefined): string {
  if (command === 'doctor') return DOCTOR_HELP;
  if (command === 'demo') return DEMO_HELP;
  return HELP;
}
