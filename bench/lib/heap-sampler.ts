/**
 * Ad-hoc, preloaded into a profiled process (`--import .../heap-sampler.js`): SIGUSR2 starts V8's
 * sampling heap profiler, keeping objects the GC has already collected, and the next SIGUSR2 stops
 * it, writes the profile to HEAP_PROFILE_OUT (default /tmp/quarry-heap.heapprofile) and prints the
 * bytes allocated meanwhile. profile-create.ts sends both signals around each burst when told
 * SIGNAL_BURSTS=1 (design: Performance targets, "Garbage per create").
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

interface SamplingNode {
  selfSize: number;
  children: SamplingNode[];
}

const allocated = (n: SamplingNode): number => n.children.reduce((sum, c) => sum + allocated(c), n.selfSize);

const session = new Session();
session.connect();
let sampling = false;
process.on('SIGUSR2', () => {
  if (!sampling) {
    sampling = true;
    session.post('HeapProfiler.startSampling', {
      samplingInterval: 4096,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    return;
  }
  sampling = false;
  session.post('HeapProfiler.stopSampling', (err, res) => {
    if (err) throw err;
    const out = process.env.HEAP_PROFILE_OUT ?? '/tmp/quarry-heap.heapprofile';
    writeFileSync(out, JSON.stringify(res.profile));
    process.stderr.write(`heap-sampler: ${allocated(res.profile.head as SamplingNode)} bytes allocated, profile in ${out}\n`);
  });
});
