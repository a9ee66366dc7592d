/**
 * Test-only crash injection. When QUARRY_FAULT_POINT names a step, the process
 * announces it on stderr and stops itself there, so a test can kill -9 it at
 * exactly that instant. Without the variable this is a no-op.
 */
export function faultPoint(name: string): void {
  if (process.env.QUARRY_FAULT_POINT !== name) return;
  process.stderr.write(`quarry: reached fault point ${name}\n`);
  process.kill(process.pid, 'SIGSTOP');
}
