// SIGTERM under full load, against the real daemon as a child process: 40
// clients keep posting webhooks over kept-alive connections, the dialplan
// keeps handing texts off over FastAGI, Asterisk reports each delivery 2.5 s
// after its Originate and the ITSP answers each text 2.5 s after its
// request, so that at the signal there are Originates waiting for their
// reports and ITSP requests waiting for their answers.
//
// What the stop must do: finish within its bound and exit 0; everything
// acknowledged (2xx, QUEUED) is in the database; nothing is acknowledged that
// was sent after the stop began, and nothing new goes to Asterisk or the ITSP
// after it began; and a text whose report or answer came
// during the stop is recorded, so the next start neither originates nor
// sends it again.
import test from 'ava';
import Database from 'better-sqlite3';
import http from 'node:http';
import path from 'node:path';
import { runAgi } from './doubles/agi-client.js';
import { startAmiDouble } from './doubles/ami-server.js';
import { startItspDouble, twilioLike } from './doubles/itsp-server.js';
import { AMI_SECRET, sleep, spawnDaemon, until, writeConfig, type Child } from './helpers/stack.js';
import { tempDir } from './helpers/tmp.js';

const ALICE = '+46812345678';
// Each client its own conversation: texts of one conversation go one at a time.
const remote = (w: number): string => `+467012345${String(w).padStart(2, '0')}`;
const outTo = (w: number): string => `+1202555016${w}`;
/** The stop's grace for work under way (STOP_GRACE_MS in src/daemon.ts), logging off AMI after it, and room for a busy machine. */
const STOP_BOUND_MS = 5000 + 1000 + 2000;
const REPORT_DELAY_MS = 2500;

function post(agent: http.Agent, port: number, from: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const form = new URLSearchParams({ To: ALICE, From: from, Body: body }).toString();
    const req = http.request(
      { host: '127.0.0.1', port, path: '/sms/in/default', method: 'POST', agent, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(form) } },
      (res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.once('error', reject);
    req.end(form);
  });
}

const portOf = (child: Child, what: string): number => {
  const line = child.logs.find((l) => l.includes(what));
  return (JSON.parse(line!) as { port: number }).port;
};
const logTime = (child: Child, what: string): number => {
  const line = child.logs.find((l) => l.includes(what));
  return Date.parse((JSON.parse(line!) as { time: string }).time);
};

test('SIGTERM under load: stops within its bound, exit 0; every 2xx and QUEUED stored; nothing acknowledged after the stop began; nothing reported during the stop is repeated after a restart', async (t) => {
  t.timeout(90_000);
  const ami = await startAmiDouble({ secret: AMI_SECRET, originateDelayMs: REPORT_DELAY_MS });
  t.teardown(() => ami.stop());
  ami.addEndpoint(ALICE, 'alice', ['sip:alice@127.0.0.1:5062']);
  /** When Asterisk reported each delivery (the UserEvent goes out in the same turn). */
  const reportedAt = new Map<string, number>();
  ami.on('delivered', (d) => reportedAt.set(d.websmsId, Date.now()));
  const tw = twilioLike();
  /** When the ITSP answered each text, by body. */
  const answeredAt = new Map<string, number>();
  const itsp = await startItspDouble({
    default: async (req) => {
      await sleep(REPORT_DELAY_MS);
      answeredAt.set(String((req.body as Record<string, string>)['Body']), Date.now());
      return tw(req);
    },
  });
  t.teardown(() => itsp.stop());
  const dir = tempDir();
  const conf = writeConfig({
    dir,
    amiPort: ami.port,
    general: 'default_interface = itsp',
    ami: 'report_timeout = 60s',
    outbound: 'notify = none',
    interfaces: `[default]\nfield_id = MessageSid\n\n[itsp]\nsend_url = ${itsp.url}/send\nsend_id_field = sid\nrate = 0\nrate_per_number = 0\nconcurrency = 8\n`,
  });
  const first = await spawnDaemon(conf);
  t.teardown(() => first.proc.kill('SIGKILL'));
  const agiPort = portOf(first, 'FastAGI server listening');

  let over = false;
  const acked: Array<{ body: string; sentAt: number }> = [];
  const posters = Array.from({ length: 40 }, async (_, w) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; !over; i++) {
      const body = `in-${w}-${i}`;
      const sentAt = Date.now();
      try {
        if ((await post(agent, first.port, remote(w), body)) === 200) acked.push({ body, sentAt });
      } catch {
        await sleep(20); // refused or cut: an ITSP sends it again later
      }
    }
    agent.destroy();
  });
  const queued: Array<{ body: string; startedAt: number }> = [];
  const notices: string[] = [];
  const handoffs = Array.from({ length: 3 }, async (_, w) => {
    for (let i = 0; !over; i++) {
      const body = `out-${w}-${i}`;
      const startedAt = Date.now();
      const run = await runAgi({
        port: agiPort,
        exten: outTo(w),
        maxWaitMs: 10_000,
        variables: { 'MESSAGE(body)': body, 'MESSAGE(from)': '<sip:+46812345678@pbx>', 'MESSAGE(to)': `pjsip:${outTo(w)}@pbx` },
      });
      if (run.variables.get('WEBSMS_STATUS') === 'QUEUED') queued.push({ body, startedAt });
      else {
        notices.push(run.variables.get('WEBSMS_REASON') ?? run.status);
        await sleep(20);
      }
    }
  });

  // Load, with deliveries and sends under way at the moment of the signal.
  await until(() => acked.length >= 300 && queued.length >= 20 && ami.originates.length > reportedAt.size && itsp.requests.length > answeredAt.size, 40_000, 'load with reports and answers outstanding');
  const open = { originates: ami.originates.length - reportedAt.size, requests: itsp.requests.length - answeredAt.size };
  const signalledAt = Date.now();
  first.proc.kill('SIGTERM');
  // An impatient second signal changes nothing: the stop goes on and ends with 0.
  let secondSignal = false;
  setTimeout(() => {
    if (first.proc.exitCode === null) secondSignal = first.proc.kill('SIGINT');
  }, 100);
  const code = await first.exited;
  const exitedAt = Date.now();
  over = true;
  await Promise.all([...posters, ...handoffs]);
  const stopBegan = logTime(first, '"stopping:');

  t.is(code, 0);
  t.true(exitedAt - signalledAt < STOP_BOUND_MS, `stopped in ${exitedAt - signalledAt} ms`);
  t.log(`stopped in ${exitedAt - signalledAt} ms; ${acked.length} webhooks acknowledged, ${queued.length} hand-offs QUEUED; at the signal ${open.originates} Originates and ${open.requests} ITSP requests open`);
  t.true(first.logs.some((l) => l.includes('"stopped"')));
  if (secondSignal) t.true(first.logs.some((l) => l.includes('already stopping')), 'the second signal was heard and ignored');

  // Everything acknowledged is stored.
  const db = new Database(path.join(dir, 'var', 'websms.db'), { readonly: true });
  const inbound = db.prepare('SELECT id, body, state, parts_done FROM inbound').all() as Array<{ id: number; body: string; state: string; parts_done: number }>;
  const outbound = db.prepare('SELECT id, body, state FROM outbound').all() as Array<{ id: number; body: string; state: string }>;
  // Every Originate and every ITSP request is an 'attempt' event, stamped when the text was taken.
  const attemptsAfterStop = db.prepare(`SELECT direction, text_id, at FROM events WHERE kind = 'attempt' AND at > ?`).all(stopBegan);
  db.close();
  const inBodies = new Set(inbound.map((r) => r.body));
  const outBodies = new Set(outbound.map((r) => r.body));
  t.deepEqual(acked.filter((a) => !inBodies.has(a.body)), [], `${acked.length} webhooks acknowledged, all stored`);
  t.deepEqual(queued.filter((q) => !outBodies.has(q.body)), [], `${queued.length} hand-offs QUEUED, all stored`);
  t.is(inBodies.size, inbound.length, 'no webhook stored twice');

  // Nothing acknowledged that was sent once the stop had begun.
  t.deepEqual(acked.filter((a) => a.sentAt > stopBegan), [], 'no 2xx for a webhook sent after the stop began');
  t.deepEqual(queued.filter((q) => q.startedAt > stopBegan), [], 'no QUEUED for a hand-off begun after the stop began');

  // Nothing new went to Asterisk or the ITSP once the stop had begun.
  t.deepEqual(attemptsAfterStop, [], 'no text taken for an Originate or an ITSP request after the stop began');

  // What was under way at the signal had its outcome come in during the stop, and recorded.
  const duringStop = (at: number): boolean => at >= signalledAt && at <= exitedAt;
  const reportedDuringStop = [...reportedAt].filter(([, at]) => duringStop(at)).map(([id]) => id);
  const answeredDuringStop = [...answeredAt].filter(([, at]) => duringStop(at)).map(([body]) => body);
  t.true(reportedDuringStop.length > 0, 'some reports arrived during the stop');
  t.true(answeredDuringStop.length > 0, 'some ITSP answers arrived during the stop');
  const byId = new Map(inbound.map((r) => [r.id, r]));
  for (const websmsId of reportedDuringStop) {
    const [id, part] = websmsId.split('.').map(Number) as [number, number];
    t.true((byId.get(id)?.parts_done ?? 0) >= part, `report for ${websmsId} recorded (${byId.get(id)?.state})`);
  }
  const byBody = new Map(outbound.map((r) => [r.body, r]));
  for (const body of answeredDuringStop) t.is(byBody.get(body)?.state, 'sent', `answer for ${body} recorded`);

  // The next start repeats none of them.
  const originatesBefore = ami.originates.length;
  const requestsBefore = itsp.requests.length;
  const second = await spawnDaemon(conf);
  t.teardown(() => second.proc.kill('SIGKILL'));
  // Texts left 'sending' (none here, as every outcome came within the grace) would go first, at once.
  await until(() => ami.originates.length > originatesBefore + 20 && itsp.requests.length > requestsBefore + 3, 20_000, 'the second daemon delivering and sending');
  await sleep(REPORT_DELAY_MS);
  const again = ami.originates.slice(originatesBefore).map((o) => o.variables['WEBSMS_ID']!);
  t.deepEqual(again.filter((id) => reportedDuringStop.includes(id)), [], 'no Originate repeated for a text reported during the stop');
  const resent = itsp.requests.slice(requestsBefore).map((r) => String((r.body as Record<string, string>)['Body']));
  t.deepEqual(resent.filter((b) => answeredDuringStop.includes(b)), [], 'no ITSP request repeated for a text answered during the stop');
  // Across both runs, no text went to Asterisk or to the ITSP twice.
  const ids = ami.originates.map((o) => o.variables['WEBSMS_ID']!);
  t.is(new Set(ids).size, ids.length, 'every Originate once');
  const bodies = itsp.requests.map((r) => String((r.body as Record<string, string>)['Body']));
  t.is(new Set(bodies).size, bodies.length, 'every ITSP request once');
  second.proc.kill('SIGTERM');
  t.is(await second.exited, 0);
});
