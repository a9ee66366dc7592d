/**
 * Entry point: prints the time of one fixed single-threaded loop, run once in this fresh process.
 * Run as its own process because V8 optimises the loop further each time it runs: in one process
 * the first two runs took about 1.5 s and the third 0.3 s, so only a first run compares.
 */
function loopMs(): number {
  const started = process.hrtime.bigint();
  let x = 0;
  for (let i = 0; i < 300_000_000; i++) x = (x * 31 + i) | 0;
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  return x === 1 ? ms + 1 : ms; // uses x, so the loop is not optimised away
}

process.stdout.write(`${loopMs()}\n`);
