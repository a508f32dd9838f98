// How much garbage the daemon's heap may hold. Under webhook load with AMI
// delivering, requests wait tens of milliseconds for their commit, long
// enough for their objects to be moved to V8's old generation, where they
// die; V8 lets the old generation grow to two times or more what survived
// its last full collection before it collects again, and that garbage was
// 15-20 MB of resident memory (docs/benchmarks.md, "Memory"). Capping the
// growth at 1.5 times keeps the peak under 100 MB; the full collections it
// adds (of a live heap of about 15 MB, marked mostly on a helper thread) did
// not show in the throughput.
//
// It is a V8 flag that NODE_OPTIONS does not accept, so the daemon sets it
// itself at start; a --heap-growing-percent given to node wins.

import v8 from 'node:v8';

export const HEAP_GROWING_PERCENT = 50;

/** The V8 flag the daemon sets, or undefined when node was given one of its own. */
export function heapFlag(execArgv: readonly string[]): string | undefined {
  return execArgv.some((a) => /^--heap[-_]growing[-_]percent\b/.test(a)) ? undefined : `--heap-growing-percent=${HEAP_GROWING_PERCENT}`;
}

export function tuneHeap(execArgv: readonly string[] = process.execArgv): void {
  const flag = heapFlag(execArgv);
  if (flag) v8.setFlagsFromString(flag);
}
