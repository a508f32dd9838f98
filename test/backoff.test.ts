// retry_min is a floor: the jitter only ever adds to the doubling wait, for
// inbound delivery ([ami]) and outbound sending ([outbound]) alike.
import test from 'ava';
import Database from 'better-sqlite3';
import path from 'node:path';
import { retryDelay } from '../src/backoff.js';
import { runAgi } from './doubles/agi-client.js';
import { errors, startItspDouble } from './doubles/itsp-server.js';
import { rows, startStack, until } from './helpers/stack.js';

const HOUR = 3_600_000;

test('retryDelay: between min × 2^(n-1) and twice that, capped, never below min', (t) => {
  for (const r of [0, 0.25, 0.5, 0.999999]) {
    const at = (n: number): number => retryDelay(n, 1000, 60_000, () => r);
    t.true(at(1) >= 1000 && at(1) <= 2000, `first retry with random ${r}: ${at(1)}`);
    t.true(at(2) >= 2000 && at(2) <= 4000);
    t.true(at(3) >= 4000 && at(3) <= 8000);
    t.is(at(20), 60_000, 'capped at max');
    t.is(at(10_000), 60_000, 'no overflow on huge attempt counts');
    // Attempt 0 (a text never tried) waits like the first retry.
    t.true(at(0) >= 1000 && at(0) <= 2000);
  }
  t.is(retryDelay(1, 1000, 60_000, () => 0), 1000, 'random 0 is the minimum, not 0');
  t.true(retryDelay(1, 1000, 60_000, () => 0.5) > 1000, 'jitter is kept');
  t.is(retryDelay(1, 5000, 5000, () => 0.7), 5000, 'min = max: exactly that');
});

test('[ami] retry_min: a text whose phone is offline waits at least retry_min, at most twice it', async (t) => {
  const s = await startStack({ ami: 'retry_min = 1h\nretry_max = 8h\n' });
  t.teardown(() => s.stop());
  s.ami.addEndpoint('+46811111111', 'bob', []);
  // Different senders: each text is its own conversation and is tried at once.
  const n = 8;
  for (let i = 0; i < n; i++) {
    const r = await s.post('/sms/in/default', { To: '+46811111111', From: `+4670123456${i}`, Body: `text ${i}` });
    t.is(r.status, 200);
  }
  const waiting = await until(() => {
    const w = rows(s.dir).filter((r) => r.state === 'waiting');
    return w.length === n ? w : undefined;
  });
  for (const w of waiting) {
    const wait = Number(w.next_attempt_at) - Number(w.updated_at);
    t.true(wait >= HOUR && wait <= 2 * HOUR, `text ${String(w.id)} waits ${wait} ms`);
  }
});

test('[outbound] retry_min: a failed send is retried no sooner than retry_min, at most twice it', async (t) => {
  const itsp = await startItspDouble({ default: errors.serverError() });
  t.teardown(() => itsp.stop());
  const s = await startStack({
    interfaces: `[itsp]\nsend_url = ${itsp.url}/send\nrate = 0\nrate_per_number = 0\nbreaker_failures = 1000\n`,
    general: 'default_interface = itsp',
    outbound: 'retry_min = 1h\nretry_max = 8h\nmax_attempts = 10',
  });
  t.teardown(() => s.stop());
  const n = 8;
  for (let i = 0; i < n; i++) {
    const run = await runAgi({
      port: s.daemon.agiPort,
      exten: `+1202555016${i}`,
      variables: { 'MESSAGE(body)': `text ${i}`, 'MESSAGE(from)': '<sip:+46812345678@pbx.example>', 'MESSAGE(to)': `pjsip:+1202555016${i}@pbx.example`, WEBSMS_INDEX: '' },
    });
    t.is(run.set.get('WEBSMS_STATUS'), 'QUEUED');
  }
  const retried = await until(() => {
    const db = new Database(path.join(s.dir, 'var', 'websms.db'), { readonly: true });
    try {
      const r = db.prepare("SELECT * FROM outbound WHERE state = 'queued' AND attempts = 1").all() as Array<Record<string, number>>;
      return r.length === n ? r : undefined;
    } finally {
      db.close();
    }
  });
  for (const r of retried) {
    const wait = r.next_attempt_at! - r.updated_at!;
    t.true(wait >= HOUR && wait <= 2 * HOUR, `text ${r.id} waits ${wait} ms`);
  }
});
