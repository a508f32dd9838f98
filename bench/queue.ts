// Queue benchmark: what the store's queue operations cost, in microseconds of
// CPU, with 0 ... 100,000 texts waiting behind one blocked conversation, in
// both directions. The database lives in /dev/shm (when there is one), so
// that fsync costs nothing and the figures are the queries' own.
//
//   npm run build && node dist/bench/queue.js [backlogs] [repetitions]
//     (each case stops early after 10 s once it has 50)
//     backlogs: comma-separated (default 0,1000,20000,100000)
//
// Per backlog and direction, medians over the repetitions:
//   scan:  a scan that finds nothing to take (claim/due + next-due), as the
//          deliverer and the sender run after every stored text or outcome;
//   cycle: one text of another conversation stored, taken and finished
//          (inbound: written, claimed, reported delivered; outbound: written,
//          taken, marked sending, marked sent), commits included.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { openDatabase } from '../src/store/db.js';
import { inboundBooks } from '../src/store/inbound-books.js';
import { createInboundStore } from '../src/store/inbound.js';
import { createOutboundStore } from '../src/store/outbound.js';

const BACKLOGS = (process.argv[2] ?? '0,1000,20000,100000').split(',').filter(Boolean).map(Number);
const REPS = Number(process.argv[3] ?? 2000);
/** A case stops after this long once it has 50 repetitions: the slow ones need no more to show it. */
const BUDGET_MS = 10_000;
const more = (i: number, since: number): boolean => i < REPS && (i < 50 || performance.now() - since < BUDGET_MS);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return Number(s[Math.floor(s.length / 2)]!.toFixed(1));
}

function freshDb(root: string, name: string) {
  return openDatabase(path.join(root, `${name}.db`));
}

async function inbound(root: string, backlog: number) {
  const db = freshDb(root, `in-${backlog}`);
  const t0 = Date.now();
  const ins = db.prepare(
    `INSERT INTO inbound (interface, sender, recipient, body, body_hash, parts, state, next_attempt_at, received_at, updated_at, endpoint)
     VALUES ('default', '+46709999999', '+46812345679', ?, ?, 1, ?, ?, ?, ?, ?)`,
  );
  db.transaction(() => {
    // The head waits for an offline phone; the others are due but wait behind it.
    if (backlog > 0) ins.run('head', 'h0', 'waiting', t0 + 3_600_000, t0, t0, 'bob');
    for (let i = 1; i < backlog; i++) ins.run(`waiting ${i}`, `h${i}`, 'queued', t0, t0, t0, null);
    if (backlog > 0) inboundBooks(db)(1, backlog);
  })();
  let clock = t0;
  const store = createInboundStore(db, { dedupWindowMs: 0, now: () => clock });
  const scan: number[] = [];
  const cycle: number[] = [];
  const since = performance.now();
  for (let i = 0; more(i, since); i++) {
    clock++;
    let a = performance.now();
    store.claimDue(clock, 20);
    store.nextDueAt();
    scan.push((performance.now() - a) * 1000);
    a = performance.now();
    const { id } = await store.enqueue({ interface: 'default', providerId: undefined, sender: `+4670${1_000_000 + i}`, recipient: '+46812345678', body: `text ${i}`, parts: 1 });
    const taken = store.claimDue(clock, 20);
    if (taken.length !== 1 || taken[0]!.id !== id) throw new Error(`inbound: took ${taken.map((r) => r.id).join(',')} instead of ${id}`);
    store.partDelivered(id, 1, 'alice', clock);
    store.nextDueAt();
    cycle.push((performance.now() - a) * 1000);
  }
  db.close();
  return { scanUs: median(scan), cycleUs: median(cycle), repetitions: scan.length };
}

async function outbound(root: string, backlog: number) {
  const db = freshDb(root, `out-${backlog}`);
  const t0 = Date.now();
  const ins = db.prepare(
    `INSERT INTO outbound (interface, origin, sender, recipient, body, encoding, segments, attempts, next_attempt_at, created_at, updated_at)
     VALUES ('itsp', 'itsp', '+46812399999', '+12029999999', ?, 'GSM-7', 1, ?, ?, ?, ?)`,
  );
  db.transaction(() => {
    // The head is retried in an hour; the others are due but wait behind it.
    if (backlog > 0) ins.run('head', 1, t0 + 3_600_000, t0, t0);
    for (let i = 1; i < backlog; i++) ins.run(`waiting ${i}`, 0, t0, t0, t0);
  })();
  let clock = t0;
  const store = createOutboundStore(db, { now: () => clock });
  const scan: number[] = [];
  const cycle: number[] = [];
  const since = performance.now();
  for (let i = 0; more(i, since); i++) {
    clock++;
    let a = performance.now();
    store.due(clock, 16);
    store.nextDueAt();
    scan.push((performance.now() - a) * 1000);
    a = performance.now();
    const id = await store.enqueue({ interface: 'itsp', sender: '+46812345678', recipient: `+1202${1_000_000 + i}`, body: `text ${i}`, encoding: 'GSM-7', segments: 1 });
    const taken = store.due(clock, 16);
    if (taken.length !== 1 || taken[0]!.id !== id) throw new Error(`outbound: took ${taken.map((r) => r.id).join(',')} instead of ${id}`);
    store.markSending([id], clock);
    store.sent(id, `SM${i}`, clock);
    store.nextDueAt();
    cycle.push((performance.now() - a) * 1000);
  }
  db.close();
  return { scanUs: median(scan), cycleUs: median(cycle), repetitions: scan.length };
}

async function main(): Promise<void> {
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const root = fs.mkdtempSync(path.join(base, 'websms-bench-queue-'));
  const out: Record<string, unknown> = {
    machine: `${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}, node ${process.version}`,
    directory: base,
  };
  try {
    for (const n of BACKLOGS) {
      out[`inbound_${n}_waiting`] = await inbound(root, n);
      out[`outbound_${n}_waiting`] = await outbound(root, n);
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
