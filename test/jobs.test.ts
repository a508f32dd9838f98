// The scheduled jobs run at a chosen time against a real SQLite file.
import test from 'ava';
import path from 'node:path';
import { loadConfig } from '../src/config/load.js';
import { startJobs } from '../src/jobs.js';
import { createLogger } from '../src/log.js';
import { createNotifier } from '../src/outbound/notify.js';
import { openDatabase } from '../src/store/db.js';
import { createHousekeeping } from '../src/store/housekeeping.js';
import { createInboundStore } from '../src/store/inbound.js';
import { createOutboundStore } from '../src/store/outbound.js';
import { until } from './helpers/stack.js';
import { tempDir } from './helpers/tmp.js';

const DAY = 86_400_000;
const PHONE = '+46701234567';
const REMOTE = '+46812345678';

function setup(clock: { t: number }) {
  const db = openDatabase(path.join(tempDir(), 'websms.db'));
  const now = () => clock.t;
  const inbound = createInboundStore(db, { dedupWindowMs: 0, now });
  const outbound = createOutboundStore(db, { now });
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger('debug', {}, (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
  const notifier = createNotifier({ mode: 'failures', inbound, outbound, partBytes: 1000, log, onQueued: () => undefined });
  const config = loadConfig({ env: {}, explicit: false });
  let kicks = 0;
  const jobs = startJobs({ inbound, outbound, housekeeping: createHousekeeping(db), notifier, config: () => config, log, kick: () => kicks++ });
  return { db, inbound, outbound, jobs, lines, config, kicks: () => kicks };
}

const out = (body: string) => ({ interface: 'default', sender: PHONE, recipient: REMOTE, body, encoding: 'GSM-7', segments: 1 });

test('expiry: an outbound text queued past [outbound] max_age expires and the sender is told; a younger one waits on', async (t) => {
  const clock = { t: 1_000 * DAY };
  const s = setup(clock);
  t.teardown(() => s.jobs.stop());
  const old = await s.outbound.enqueue(out('old text'));
  clock.t += s.config.outbound.maxAgeMs - 60_000;
  const young = await s.outbound.enqueue(out('young text'));
  clock.t += 120_000;
  t.deepEqual(s.jobs.expire(clock.t), { inbound: 0, outbound: 1 });
  t.is(s.outbound.get(old)!.state, 'expired');
  t.is(s.outbound.get(old)!.reason, 'no provider took it in time; send it again later');
  t.is(s.outbound.get(young)!.state, 'queued');
  t.is(s.kicks(), 1, 'the queues look again');
  // The notice is an inbound text back to the phone, from the number it was meant for.
  const notices = await until(() => {
    const all = s.db.prepare('SELECT sender, recipient, body FROM inbound').all() as Array<{ sender: string; recipient: string; body: string }>;
    return all.length > 0 && all;
  }, 5000, 'the notice');
  t.is(notices.length, 1);
  t.is(notices[0]!.recipient, PHONE);
  t.is(notices[0]!.sender, REMOTE);
  t.regex(notices[0]!.body, /^Not sent to \+46812345678, gave up after retrying: "old text"/);
  // Run again: nothing more happens.
  t.deepEqual(s.jobs.expire(clock.t), { inbound: 0, outbound: 0 });
});

test('expiry: an inbound text never delivered within [ami] max_age expires', async (t) => {
  const clock = { t: 1_000 * DAY };
  const s = setup(clock);
  t.teardown(() => s.jobs.stop());
  const r = await s.inbound.enqueue({ interface: 'default', providerId: undefined, sender: REMOTE, recipient: PHONE, body: 'hi', parts: 1 });
  clock.t += s.config.ami.maxAgeMs + 1;
  t.deepEqual(s.jobs.expire(clock.t), { inbound: 1, outbound: 0 });
  t.is(s.inbound.get(r.id)!.state, 'expired');
  t.true(s.lines.some((l) => l.level === 'warn' && l.id === r.id && String(l.msg).startsWith('inbound text expired')));
});

test('the daily summary counts what changed in the last 24 hours and what still waits', async (t) => {
  const clock = { t: 1_000 * DAY };
  const s = setup(clock);
  t.teardown(() => s.jobs.stop());
  const a = await s.outbound.enqueue(out('a'));
  await s.outbound.enqueue(out('b'));
  s.outbound.sent(a, 'P1', clock.t);
  await s.inbound.enqueue({ interface: 'default', providerId: 'X', sender: REMOTE, recipient: PHONE, body: 'in', parts: 1 });
  clock.t += 3_600_000;
  s.jobs.summarize(clock.t);
  const line = s.lines.find((l) => String(l.msg).startsWith('daily summary'))!;
  t.deepEqual(line.outbound, { queued: 1, sent: 1 });
  t.deepEqual(line.inbound, { queued: 1 });
  t.deepEqual(line.waiting, { inbound: 1, outbound: 1 });
  t.is(line.oldestWaitingMin, 60);
  t.false(JSON.stringify(line).includes('"in"'), 'no message body in the summary');
});

test('retention: bodies of texts finished before [general] retention are removed, the rows and texts on their way are kept', async (t) => {
  const clock = { t: 1_000 * DAY };
  const s = setup(clock);
  t.teardown(() => s.jobs.stop());
  const done = await s.outbound.enqueue(out('finished long ago'));
  s.outbound.sent(done, 'P1', clock.t);
  const waiting = await s.outbound.enqueue(out('still queued'));
  const delivered = await s.inbound.enqueue({ interface: 'default', providerId: 'X', sender: REMOTE, recipient: PHONE, body: 'old inbound', parts: 1 });
  s.inbound.partDelivered(delivered.id, 1, 'alice', clock.t);
  clock.t += s.config.general.retentionMs - 1000;
  t.deepEqual(s.jobs.retain(clock.t), { inbound: 0, outbound: 0 }, 'not yet');
  clock.t += 2000;
  t.deepEqual(s.jobs.retain(clock.t), { inbound: 1, outbound: 1 });
  const o = s.outbound.get(done)!;
  t.is(o.body, null);
  t.is(o.state, 'sent');
  t.is(o.provider_id, 'P1', 'who, when and the outcome stay');
  t.is(s.outbound.get(waiting)!.body, 'still queued');
  t.is(s.inbound.get(delivered.id)!.body, null);
  t.is(s.inbound.get(delivered.id)!.state, 'delivered');
  t.true(s.lines.some((l) => l.msg === 'retention: removed the bodies of finished texts' && l.outbound === 1));
  t.deepEqual(s.jobs.retain(clock.t), { inbound: 0, outbound: 0 }, 'a second run finds nothing');
});
