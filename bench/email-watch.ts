// What looking for texts to e-mail costs: the watch (src/email/watch.ts)
// runs once a second in a daemon with [email] users. This fills a database
// with a long history (200,000 texts delivered, their events) and a user
// whose phone has been off (500 texts waiting), then times the scans: the
// first (which queues the 500 e-mails), the steady state with nothing new,
// and scans while texts keep arriving. The reference in the same run is one
// indexed point read of the same database, the least any scan costs.
//
//   npm run build && node dist/bench/email-watch.js
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../src/config/load.js';
import { createEmailStore } from '../src/email/store.js';
import { createEmailWatch } from '../src/email/watch.js';
import { createLogger } from '../src/log.js';
import { createMediaStore } from '../src/media/store.js';
import { openDatabase } from '../src/store/db.js';
import { inboundBooks } from '../src/store/inbound-books.js';

const HISTORY = 200_000;
const WAITING = 500;
const USER = '+46812345678';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'websms-bench-email-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
const file = path.join(dir, 'websms.conf');
fs.writeFileSync(file, `[general]\ndatabase = ${path.join(dir, 'websms.db')}\n[email]\nuser = ${USER} alice@example.org\nfrom = sms@example.org\nsmtp_host = 127.0.0.1\nsmtp_tls = none\ncopy = received\nunreached_after = 15m\n`);
const config = loadConfig({ file, env: {}, explicit: true });
const db = openDatabase(config.general.database);

const t0 = Date.now() - 86_400_000;
const fill = db.transaction(() => {
  const text = db.prepare(
    `INSERT INTO inbound (interface, sender, recipient, body, body_hash, parts, parts_done, state, next_attempt_at, received_at, updated_at)
     VALUES ('default', ?, ?, 'a text of the history', 'h', 1, ?, ?, ?, ?, ?)`,
  );
  const event = db.prepare(`INSERT INTO events (direction, text_id, at, kind, detail) VALUES ('in', ?, ?, ?, 'x')`);
  for (let i = 0; i < HISTORY; i++) {
    const at = t0 + i;
    const id = Number(text.run(`+4670${String(i % 5000).padStart(7, '0')}`, i % 10 === 0 ? USER : `+4681${String(i % 300).padStart(7, '0')}`, 1, 'delivered', at, at, at).lastInsertRowid);
    event.run(id, at, 'attempt');
    event.run(id, at, 'delivered');
  }
  for (let i = 0; i < WAITING; i++) text.run(`+4670999${String(i).padStart(4, '0')}`, USER, 0, 'waiting', t0, t0, t0);
  books(1, HISTORY + WAITING);
});
const books = inboundBooks(db);
fill();

const store = createEmailStore(db);
const watch = createEmailWatch({
  db,
  store,
  media: createMediaStore(db),
  config: () => config,
  repliesOn: () => false,
  log: createLogger('error', {}, () => undefined),
  onQueued: () => undefined,
});

function time(n: number, fn: () => void): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    fn();
    out.push(performance.now() - s);
  }
  return out.sort((a, b) => a - b);
}
const pct = (xs: number[], p: number): string => xs[Math.min(xs.length - 1, Math.floor(xs.length * p))]!.toFixed(3);

// The cursors start at the end of the history, as when e-mail is turned on.
// The backlog goes out in scans of at most 50 e-mails, one commit each.
const backlog: number[] = [];
let queued = 0;
for (;;) {
  const s0 = performance.now();
  const n = watch.scan();
  backlog.push(performance.now() - s0);
  queued += n;
  if (n === 0) break;
}
const idle = time(1000, () => watch.scan());

// Traffic: ten new texts to the user and ten events between scans (copies are queued for them).
const add = db.prepare(
  `INSERT INTO inbound (interface, sender, recipient, body, body_hash, parts, state, next_attempt_at, received_at, updated_at)
   VALUES ('default', '+46701234567', ?, 'new', 'h', 1, 'delivered', ?, ?, ?)`,
);
const busy = time(200, () => {
  const now = Date.now();
  db.transaction(() => {
    const first = Number(add.run(USER, now, now, now).lastInsertRowid);
    for (let i = 1; i < 10; i++) add.run(USER, now, now, now);
    books(first, first + 9);
  })();
  watch.scan();
});

const point = db.prepare('SELECT state FROM inbound WHERE id = ?');
const floor = time(1000, () => point.get(12345));

console.log(`history: ${HISTORY} texts (${HISTORY * 2} events), ${WAITING} waiting for a user whose phone is off`);
console.log(`backlog: ${queued} e-mails queued in ${backlog.length - 1} scans, the longest ${Math.max(...backlog).toFixed(1)} ms (50 e-mails and one commit a scan)`);
console.log(`steady scan, nothing new: p50 ${pct(idle, 0.5)} ms, p99 ${pct(idle, 0.99)} ms (once a second: ${(Number(pct(idle, 0.5)) / 10).toFixed(3)} % of a core)`);
console.log(`scan with 10 new texts to copy: p50 ${pct(busy, 0.5)} ms, p99 ${pct(busy, 0.99)} ms (10 e-mails queued, one commit)`);
console.log(`reference, one indexed point read: p50 ${pct(floor, 0.5)} ms`);
db.close();
