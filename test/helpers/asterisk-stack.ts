// The whole path of a text for one test: a real Asterisk (test/helpers/
// asterisk.ts) with two users, each with two registered phones (SIP user
// agents, test/doubles/sip-ua.ts), websms as a child process logged in to
// its AMI and taking its FastAGI hand-offs, and the ITSP double as the ITSP
// (webhooks in, sends out). Everything on 127.0.0.1, free ports, stopped at
// teardown by PID.

import Database from 'better-sqlite3';
import path from 'node:path';
import { startItspDouble, twilioLike, type ItspDouble } from '../doubles/itsp-server.js';
import { startSipUa, type SipUa } from '../doubles/sip-ua.js';
import type { AsteriskBuild } from './asterisk-build.js';
import { freePort, startPbx, type Pbx, type PbxUser } from './asterisk.js';
import { AMI_SECRET, post, spawnDaemon, until, writeConfig, type Child } from './stack.js';
import { tempDir } from './tmp.js';

/** The ITSP's side of texts: the sender of inbound texts, the recipient of outbound ones. */
export const EXTERNAL = '+12025550160';

export interface PbxUserWithPhones extends PbxUser {
  phones: [SipUa, SipUa];
}

export interface PbxStack {
  pbx: Pbx;
  itsp: ItspDouble;
  alice: PbxUserWithPhones;
  bob: PbxUserWithPhones;
  /** The running websms, or undefined while it is stopped. */
  websms(): Child | undefined;
  /** Starts websms (again) with the same configuration, database and FastAGI port. */
  startWebsms(): Promise<Child>;
  /** Ends websms with the signal and waits for it to exit. */
  stopWebsms(signal?: NodeJS.Signals): Promise<void>;
  /** An ITSP webhook for an inbound text; resolves with the HTTP status. */
  webhook(to: string, body: string, id: string, from?: string): Promise<number>;
  /** The inbound table, read from the database file. */
  inbound(): Array<{ id: number; state: string; body: string }>;
}

// websms children still running when the test process ends without its teardown.
const children = new Set<Child>();
process.once('exit', () => {
  for (const c of children) c.proc.kill('SIGKILL');
});

interface Teardown {
  teardown(fn: () => unknown): void;
}

export async function startPbxStack(t: Teardown, build: AsteriskBuild, o: { users?: PbxUser[]; websms?: string } = {}): Promise<PbxStack> {
  const users: PbxUser[] = [
    { endpoint: 'alice', number: '+46701111111', password: 'alice-Passw0rd' },
    { endpoint: 'bob', number: '+46702222222', password: 'bob-Passw0rd' },
    ...(o.users ?? []),
  ];
  const agiPort = await freePort('tcp'); // fixed, so that a restarted websms is found where the dialplan looks
  const amiPort = await freePort('tcp');
  const itsp = await startItspDouble({ default: twilioLike() });
  t.teardown(() => itsp.stop());
  const dir = tempDir();
  const conf = writeConfig({
    dir,
    amiPort,
    agi: `listen = 127.0.0.1:${agiPort}`,
    general: 'default_interface = itsp',
    outbound: 'retry_min = 50ms\nretry_max = 200ms',
    interfaces: `[itsp]\nfield_id = MessageSid\nsend_url = ${itsp.url}/send\nsend_id_field = sid\nrate = 0\nrate_per_number = 0\n${o.websms ?? ''}`,
  });
  let child: Child | undefined;
  const startWebsms = async (): Promise<Child> => {
    child = await spawnDaemon(conf);
    const c = child;
    children.add(c);
    void c.exited.then(() => children.delete(c));
    // Ready for texts once logged in to the AMI (it checks the dialplan there first).
    await until(() => c.logs.some((l) => l.includes('"ami connected"')), 15_000, 'websms logged in to the AMI');
    return c;
  };
  const stopWebsms = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.proc.exitCode !== null || c.proc.signalCode !== null) return;
    c.proc.kill(signal);
    await c.exited;
  };
  t.teardown(() => stopWebsms('SIGKILL'));

  // Both at once: websms retries the AMI until Asterisk answers, as it does in production.
  const [pbx] = await Promise.all([
    startPbx({ build, users, amiSecret: AMI_SECRET, agiPort, amiPort }).then((p) => {
      t.teardown(() => p.stop());
      return p;
    }),
    startWebsms(),
  ]);

  const phones = async (u: PbxUser): Promise<PbxUserWithPhones> => {
    const pair = [
      await startSipUa({ server: { host: '127.0.0.1', port: pbx.sipPort }, user: u.endpoint, password: u.password }),
      await startSipUa({ server: { host: '127.0.0.1', port: pbx.sipPort }, user: u.endpoint, password: u.password }),
    ] as [SipUa, SipUa];
    for (const p of pair) t.teardown(() => p.close());
    return { ...u, phones: pair };
  };
  const alice = await phones(users[0]!);
  const bob = await phones(users[1]!);
  const statuses = await Promise.all([...alice.phones, ...bob.phones].map((p) => p.register()));
  if (statuses.some((st) => st !== 200)) throw new Error(`phones could not register: ${statuses.join(', ')}`);

  return {
    pbx,
    itsp,
    alice,
    bob,
    websms: () => child,
    startWebsms,
    stopWebsms,
    async webhook(to, body, id, from = EXTERNAL) {
      if (!child) throw new Error('websms is not running');
      const r = await post(`http://127.0.0.1:${child.port}/sms/in/itsp`, { To: to, From: from, Body: body, MessageSid: id });
      return r.status;
    },
    inbound() {
      const db = new Database(path.join(dir, 'var', 'websms.db'), { readonly: true });
      try {
        return db.prepare('SELECT id, state, body FROM inbound ORDER BY id').all() as Array<{ id: number; state: string; body: string }>;
      } finally {
        db.close();
      }
    },
  };
}
