// Inbound benchmark: webhook to durable commit under load, webhook to Originate
// at light load, memory, and the bare ceilings (HTTP with no storage; SQLite with one
// commit per request; with group commit) in the same run;
// then the same load with an AMI double that answers every Originate and
// reports DELIVERED, for distinct senders, for one conversation, and for
// other conversations while texts wait behind one blocked conversation.
//
//   npm run bench
//   node dist/bench/webhook.js [seconds] [connections] [daemon V8 flags] [backlogs] [--rounds=N]
//     backlogs: texts waiting in the blocked conversation, comma-separated
//     (default 0,5000,10000,20000,100000)
//     --rounds: after the full run, N-1 more rounds of the group-commit
//     ceiling, store only, the two AMI shapes and the largest backlog
//     against none, and the median ratios
//
// Loopback only; every loop is bounded in time and count.
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { startAmiDouble } from '../test/doubles/ami-server.js';
import { openDatabase } from '../src/store/db.js';
import { inboundBooks } from '../src/store/inbound-books.js';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--rounds='));
const SECONDS = Number(args[0] ?? 10);
const CONNECTIONS = Number(args[1] ?? 50);
// V8 flags for the daemon, as the systemd unit and `npm start` pass them.
const DAEMON_FLAGS = (args[2] || '--max-semi-space-size=4').split(' ').filter(Boolean);
const BACKLOGS = (args[3] ?? '0,5000,10000,20000,100000').split(',').filter(Boolean).map(Number);
// More rounds of the ceiling, store only and the two AMI shapes, interleaved,
// each against its own round's ceiling: on this noisy machine one run of each
// moves by a tenth from one run to the next.
const ROUNDS = Number(process.argv.find((a) => a.startsWith('--rounds='))?.slice(9) ?? 1);
const here = path.dirname(fileURLToPath(import.meta.url));
const MAIN = path.join(here, '..', 'src', 'main.js');
const BARE = path.join(here, 'bare-server.js');
const AMI = path.join(here, 'ami-process.js');
// Every request carries a different text, so duplicate detection never short-cuts a commit.
let seq = 0;
const nextBody = (): string => `To=%2B46812345678&From=%2B46701234567&Body=bench+text+${seq++}+with+%C3%A5%C3%A4%C3%B6`;
/** Each text from a sender of its own: as many conversations as texts. */
const distinctBody = (): string => {
  const n = seq++;
  return `To=%2B46812345678&From=%2B4670${String(1_000_000 + (n % 8_000_000))}&Body=bench+text+${n}+with+%C3%A5%C3%A4%C3%B6`;
};
// The phone that is offline: its endpoint has no contact, so the double reports NO_CONTACTS.
const BLOCKED = { sender: '+46709999999', recipient: '+46812345679' };

interface Proc {
  proc: ChildProcess;
  port: number;
}

function startProc(args: string[], ready: (line: string) => number | undefined, stream: 'stdout' | 'stderr'): Promise<Proc> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH, WEBSMS_AMI_SECRET: 'bench' } });
    let buf = '';
    const timer = setTimeout(() => reject(new Error('process did not start')), 15_000);
    proc[stream]!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      for (const line of buf.split('\n')) {
        const port = line ? ready(line) : undefined;
        if (port) {
          clearTimeout(timer);
          buf = '';
          proc[stream]!.removeAllListeners('data');
          proc[stream]!.resume();
          resolve({ proc, port });
          return;
        }
      }
    });
    (stream === 'stdout' ? proc.stderr : proc.stdout)!.resume();
    proc.once('exit', (c) => reject(new Error(`exited ${c}`)));
  });
}

function rssMb(pid: number): number {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(s)![1]) / 1024;
}

/** CPU time (user + system) a process has used so far, in ms. */
function cpuMs(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS;
}
// USER_HZ: 100 on every Linux build node runs on.
const CLOCK_TICKS = 100;

/**
 * Runs the load; also reports the CPU time each text cost the server, the AMI
 * double (when there is one) and this client: on two cores the three share
 * the machine, which bounds what any server can reach (docs/benchmarks.md).
 */
async function load(port: number, urlPath: string, pid: number, body: () => string = nextBody, amiPid?: number) {
  const cpu0 = { server: cpuMs(pid), ami: amiPid ? cpuMs(amiPid) : 0, client: process.cpuUsage() };
  let peakRss = 0;
  const sampler = setInterval(() => {
    try {
      peakRss = Math.max(peakRss, rssMb(pid));
    } catch {
      /* gone */
    }
  }, 200);
  const r = await autocannon({
    url: `http://127.0.0.1:${port}${urlPath}`,
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    requests: [{ setupRequest: (req: autocannon.Request) => ({ ...req, body: body() }) }],
    connections: CONNECTIONS,
    duration: SECONDS,
  });
  clearInterval(sampler);
  const client = process.cpuUsage(cpu0.client);
  const perText = (ms: number): number => Math.round((ms * 1000) / Math.max(1, r['2xx']));
  return {
    rps: r.requests.average,
    cpuUsPerText: {
      server: perText(cpuMs(pid) - cpu0.server),
      ...(amiPid ? { amiDouble: perText(cpuMs(amiPid) - cpu0.ami) } : {}),
      client: perText((client.user + client.system) / 1000),
    },
    total: r['2xx'],
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
    p50: r.latency.p50,
    p99: r.latency.p99,
    max: r.latency.max,
    peakRssMb: Math.round(peakRss),
  };
}

/** One webhook over a kept-alive connection, as an ITSP sends them. */
function postOnce(agent: http.Agent, port: number, body: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { agent, host: '127.0.0.1', port, method: 'POST', path: '/sms/in/default', headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function stop(p: Proc): Promise<void> {
  return new Promise((res) => {
    p.proc.once('exit', () => res());
    p.proc.kill('SIGTERM');
  });
}


const daemonReady = (l: string): number | undefined => (l.includes('"http listening"') ? (JSON.parse(l) as { port: number }).port : undefined);
const portLine = (l: string): number | undefined => (l.startsWith('{') ? (JSON.parse(l) as { port: number }).port : undefined);

/** Texts of the blocked conversation put straight into the database, as an earlier run of websms would have left them. */
function prefillBlocked(file: string, n: number): void {
  const db = openDatabase(file);
  const ins = db.prepare(
    `INSERT INTO inbound (interface, sender, recipient, body, body_hash, parts, state, next_attempt_at, received_at, updated_at)
     VALUES ('default', ?, ?, ?, ?, 1, 'queued', ?, ?, ?)`,
  );
  const t = Date.now();
  db.transaction(() => {
    let first = 0;
    let last = 0;
    for (let i = 0; i < n; i++) {
      last = Number(ins.run(BLOCKED.sender, BLOCKED.recipient, `waiting ${i}`, `w${i}`, t, t, t).lastInsertRowid);
      if (i === 0) first = last;
    }
    if (n > 0) inboundBooks(db)(first, last);
  })();
  db.close();
}

function query<T>(file: string, sql: string, ...args: unknown[]): T {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(sql).get(...args) as T;
  } finally {
    db.close();
  }
}

/**
 * One load against websms with the AMI double (in its own process) answering
 * every Originate: DELIVERED for +46812345678, NO_CONTACTS for the blocked
 * conversation's recipient. `backlog` texts wait in the blocked conversation
 * first (its head reported NO_CONTACTS before the load starts). Samples the
 * texts stored each second.
 */
async function withAmi(dir: string, name: string, body: () => string, backlog: number) {
  const ami = await startProc([AMI, 'bench', '+46812345678=alice=sip:alice@127.0.0.1:5062', `${BLOCKED.recipient}=bob`], portLine, 'stdout');
  const file = path.join(dir, `${name}.db`);
  const conf = path.join(dir, `${name}.conf`);
  fs.writeFileSync(conf, `[general]\nlisten = 127.0.0.1:0\ndatabase = ${file}\n[agi]\nlisten = 127.0.0.1:0\n[api]\nlisten = 127.0.0.1:0\n[ami]\nport = ${ami.port}\n`);
  if (backlog > 0) prefillBlocked(file, backlog);
  const d = await startProc([...DAEMON_FLAGS, MAIN, '--config', conf], daemonReady, 'stderr');
  try {
    const until = Date.now() + 60_000;
    if (backlog > 0) {
      // Blocked: the first text waits for the phone; the others wait behind it.
      while (query<{ n: number }>(file, `SELECT COUNT(*) AS n FROM inbound WHERE state = 'waiting'`).n === 0) {
        if (Date.now() > until) throw new Error(`${name}: the blocked conversation's head never waited`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } else {
      await new Promise((r) => setTimeout(r, 1000)); // AMI logged in
    }
    const first = query<{ id: number | null }>(file, 'SELECT MAX(id) AS id FROM inbound').id ?? 0;
    let last = first;
    const perSecond: number[] = [];
    const sampler = setInterval(() => {
      const id = query<{ id: number | null }>(file, 'SELECT MAX(id) AS id FROM inbound').id ?? 0;
      perSecond.push(id - last);
      last = id;
    }, 1000);
    const w = await load(d.port, '/sms/in/default', d.proc.pid!, body, ami.proc.pid);
    clearInterval(sampler);
    const delivered = query<{ n: number }>(file, `SELECT COUNT(*) AS n FROM inbound WHERE state = 'delivered' AND id > ?`, first).n;
    const stored = query<{ n: number }>(file, 'SELECT COUNT(*) AS n FROM inbound WHERE id > ?', first).n;
    const blockedQueued = query<{ n: number }>(file, `SELECT COUNT(*) AS n FROM inbound WHERE recipient = ? AND state IN ('queued', 'waiting')`, BLOCKED.recipient).n;
    return { ...w, storedRows: stored, everyAckStored: stored >= w.total, deliveredDuringRun: delivered, storedPerSecond: perSecond, blockedWaiting: blockedQueued };
  } finally {
    await stop(d);
    await stop(ami);
  }
}

/** websms with AMI absent (store only): webhook to durable commit. */
async function storeOnly(dir: string, name: string) {
  const conf = path.join(dir, `${name}.conf`);
  const file = path.join(dir, `${name}.db`);
  fs.writeFileSync(conf, `[general]\nlisten = 127.0.0.1:0\ndatabase = ${file}\n[agi]\nlisten = 127.0.0.1:0\n[api]\nlisten = 127.0.0.1:0\n[ami]\nport = 1\n`);
  const d = await startProc([...DAEMON_FLAGS, MAIN, '--config', conf], daemonReady, 'stderr');
  const idleRss = rssMb(d.proc.pid!);
  const w = await load(d.port, '/sms/in/default', d.proc.pid!);
  await stop(d);
  const stored = query<{ n: number }>(file, 'SELECT COUNT(*) AS n FROM inbound').n;
  return { ...w, idleRssMb: Math.round(idleRss), storedRows: stored, everyAckStored: stored >= w.total };
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'websms-bench-'));
  const out: Record<string, unknown> = {
    machine: `${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}, node ${process.version}`,
    seconds: SECONDS,
    connections: CONNECTIONS,
    daemonFlags: DAEMON_FLAGS.join(' '),
  };
  try {
    // 1. The ceilings.
    for (const mode of ['none', 'single', 'group'] as const) {
      const p = await startProc([BARE, mode, path.join(dir, `bare-${mode}.db`)], (l) => (l.startsWith('{') ? (JSON.parse(l) as { port: number }).port : undefined), 'stdout');
      out[mode === 'none' ? 'bare_no_storage' : `bare_${mode}_commit`] = await load(p.port, '/', p.proc.pid!);
      await stop(p);
    }

    // 2. websms, AMI absent: pure webhook -> durable commit.
    const w = await storeOnly(dir, 'websms');
    out.websms_webhook_commit = w;
    const ceiling = (out.bare_group_commit as { rps: number }).rps;
    out.ratio_to_bare_group_commit = Number((w.rps / ceiling).toFixed(2));

    // 3. Light load: webhook to Originate on the AMI wire.
    const ami = await startAmiDouble({ secret: 'bench' });
    ami.addEndpoint('+46812345678', 'alice', ['sip:alice@127.0.0.1:5062']);
    const conf2 = path.join(dir, 'websms2.conf');
    fs.writeFileSync(conf2, `[general]\nlisten = 127.0.0.1:0\ndatabase = ${path.join(dir, 'websms2.db')}\n[agi]\nlisten = 127.0.0.1:0\n[api]\nlisten = 127.0.0.1:0\n[ami]\nport = ${ami.port}\n`);
    const d2 = await startProc([...DAEMON_FLAGS, MAIN, '--config', conf2], (l) => (l.includes('"http listening"') ? (JSON.parse(l) as { port: number }).port : undefined), 'stderr');
    await ami.waitFor(() => ami.sessions.some((s) => s.authenticated), 10_000);
    const samples: number[] = [];
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    // The moment the Originate reached the (fake) Asterisk's socket handler.
    let arrivedAt = 0;
    ami.on('originate', () => {
      arrivedAt = performance.now();
    });
    for (let i = 0; i < 300; i++) {
      const seen = ami.originates.length;
      const t0 = performance.now();
      await postOnce(agent, d2.port, `To=%2B46812345678&From=%2B46701234567&Body=light+${i}`);
      await ami.waitFor(() => ami.originates.length > seen, 5_000);
      samples.push(arrivedAt - t0);
      await new Promise((r) => setTimeout(r, 5));
    }
    samples.sort((a, b) => a - b);
    const q = (p: number): number => Number(samples[Math.min(samples.length - 1, Math.floor(p * samples.length))]!.toFixed(2));
    agent.destroy();
    out.webhook_to_originate_ms = { samples: samples.length, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: q(1) };
    await stop(d2);
    await ami.stop();

    // 4. With the AMI double answering every Originate (DELIVERED), its own
    //    process: distinct senders (a conversation each), one conversation
    //    (a burst from one sender), and distinct senders while texts wait
    //    behind one blocked conversation (its phone offline). The group
    //    commit ceiling is measured again between them.
    const ratio = (rps: number, c: number): number => Number((rps / c).toFixed(3));
    out.ami_distinct_senders = await withAmi(dir, 'distinct', distinctBody, 0);
    out.ami_one_conversation = await withAmi(dir, 'one', nextBody, 0);
    {
      const p = await startProc([BARE, 'group', path.join(dir, 'bare-group-2.db')], portLine, 'stdout');
      out.bare_group_commit_again = await load(p.port, '/', p.proc.pid!);
      await stop(p);
    }
    for (const n of BACKLOGS) out[`ami_blocked_${n}_waiting`] = await withAmi(dir, `blocked-${n}`, distinctBody, n);
    const ceilings = [(out.bare_group_commit as { rps: number }).rps, (out.bare_group_commit_again as { rps: number }).rps];
    const mean = (ceilings[0]! + ceilings[1]!) / 2;
    const ratios: Record<string, number> = {};
    for (const k of Object.keys(out).filter((k) => k.startsWith('ami_'))) ratios[k] = ratio((out[k] as { rps: number }).rps, mean);
    const zero = out.ami_blocked_0_waiting as { rps: number } | undefined;
    if (zero) for (const n of BACKLOGS) ratios[`blocked_${n}_to_blocked_0`] = ratio((out[`ami_blocked_${n}_waiting`] as { rps: number }).rps, zero.rps);
    out.ratios_to_mean_group_commit_ceiling = { ceiling: Math.round(mean), ...ratios };

    // 5. More rounds, interleaved, each against its own ceiling.
    if (ROUNDS > 1) {
      // Each ratio twice: throughput, and the CPU time the ceiling's server
      // spends per request over the time websms spends per text (what the
      // throughput ratio would be if both were bound by their own core alone;
      // less moved by the machine's drift, which shifts both alike).
      type Run = { rps: number; cpuUsPerText: { server: number } };
      // (c), the largest backlog against none, is measured again in each round
      // too: its two loads run back to back, but a single pair moved from 0.78
      // to 1.05 between runs as the machine's speed drifted.
      const most = Math.max(...BACKLOGS);
      const backlog = BACKLOGS.includes(0) && most > 0 ? `blocked_${most}_to_blocked_0` : undefined;
      const ratios2 = (c: { rps: number; us: number }, so: Run, distinct: Run, one: Run, blocked?: [Run, Run]): Record<string, number> => ({
        ceiling: Math.round(c.rps),
        store_only: ratio(so.rps, c.rps),
        ami_distinct_senders: ratio(distinct.rps, c.rps),
        ami_one_conversation: ratio(one.rps, c.rps),
        store_only_cpu: ratio(c.us, so.cpuUsPerText.server),
        ami_distinct_senders_cpu: ratio(c.us, distinct.cpuUsPerText.server),
        ami_one_conversation_cpu: ratio(c.us, one.cpuUsPerText.server),
        ...(backlog && blocked
          ? { [backlog]: ratio(blocked[1].rps, blocked[0].rps), [`${backlog}_cpu`]: ratio(blocked[0].cpuUsPerText.server, blocked[1].cpuUsPerText.server) }
          : {}),
      });
      const first = [out.bare_group_commit, out.bare_group_commit_again] as Run[];
      const rounds: Array<Record<string, number>> = [
        ratios2(
          { rps: mean, us: (first[0]!.cpuUsPerText.server + first[1]!.cpuUsPerText.server) / 2 },
          w,
          out.ami_distinct_senders as Run,
          out.ami_one_conversation as Run,
          backlog ? [out.ami_blocked_0_waiting as Run, out[`ami_blocked_${most}_waiting`] as Run] : undefined,
        ),
      ];
      const ceilingNow = async (name: string): Promise<Run> => {
        const p = await startProc([BARE, 'group', path.join(dir, `bare-${name}.db`)], portLine, 'stdout');
        const c = await load(p.port, '/', p.proc.pid!);
        await stop(p);
        return c;
      };
      for (let r = 2; r <= ROUNDS; r++) {
        // The ceiling before and after, and their mean: the machine's speed drifts within a round.
        const before = await ceilingNow(`r${r}-before`);
        const so = await storeOnly(dir, `websms-r${r}`);
        const distinct = await withAmi(dir, `distinct-r${r}`, distinctBody, 0);
        const one = await withAmi(dir, `one-r${r}`, nextBody, 0);
        const blocked: [Run, Run] | undefined = backlog
          ? [await withAmi(dir, `blocked-0-r${r}`, distinctBody, 0), await withAmi(dir, `blocked-${most}-r${r}`, distinctBody, most)]
          : undefined;
        const after = await ceilingNow(`r${r}-after`);
        const c = { rps: (before.rps + after.rps) / 2, us: (before.cpuUsPerText.server + after.cpuUsPerText.server) / 2 };
        rounds.push(ratios2(c, so, distinct, one, blocked));
      }
      const median = (k: string): number => {
        const v = rounds.map((x) => x[k]!).sort((a, b) => a - b);
        return v.length % 2 ? v[(v.length - 1) / 2]! : Number(((v[v.length / 2 - 1]! + v[v.length / 2]!) / 2).toFixed(3));
      };
      out.rounds = rounds;
      out.median_ratios = Object.fromEntries(Object.keys(rounds[0]!).filter((k) => k !== 'ceiling').map((k) => [k, median(k)]));
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
