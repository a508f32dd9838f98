// The whole path of a text for one test: a real Asterisk (test/helpers/
// asterisk.ts) with two users, each with two registered phones (SIP user
// agents, test/doubles/sip-ua.ts), websms as a child process logged in to
// its AMI and taking its FastAGI hand-offs, and the ITSP double as the ITSP
// (webhooks in, sends out). Everything on 127.0.0.1, free ports, stopped at
// teardown by PID.

import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { readVoicemailMail } from '../../src/voicemail/mail.js';
import { startItspDouble, twilioLike, type ItspDouble } from '../doubles/itsp-server.js';
import { startSipUa, type SipUa } from '../doubles/sip-ua.js';
import type { AsteriskBuild } from './asterisk-build.js';
import { freePort, startPbx, type Pbx, type PbxOptions, type PbxUser } from './asterisk.js';
import { AMI_SECRET, MAIN, post, spawnDaemon, until, writeConfig, type Child } from './stack.js';
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
  /** Voicemail e-mails websms stored: MiniVM's mailcmd is `websms voicemail-mail` with this stack's configuration. */
  voicemail: {
    stored(): StoredVoicemail[];
    waitForMail(n?: number, timeoutMs?: number): Promise<StoredVoicemail>;
  };
}

// websms children still running when the test process ends without its teardown.
const children = new Set<Child>();
process.once('exit', () => {
  for (const c of children) c.proc.kill('SIGKILL');
});

interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface PbxStackOptions {
  /** Users besides alice and bob. */
  users?: PbxUser[];
  /** Settings of alice and bob (a mailbox, a trunk). */
  alice?: Partial<PbxUser>;
  bob?: Partial<PbxUser>;
  /** More lines for websms.conf's interface section. */
  websms?: string;
  /** Passed to startPbx. */
  pbx?: Pick<PbxOptions, 'endpoints' | 'dialTimeout' | 'mailcmd' | 'traceDialplan'>;
}

/** A voicemail e-mail websms stored (db/014), with its attachment decoded. */
export interface StoredVoicemail {
  id: number;
  recipient: string;
  state: string;
  /** The e-mail as stored. */
  text: string;
  attachment: Buffer;
  /** The e-mail queued in the outbox (src/email/) that sends it. */
  outbox: { kind: string; recipient: string; subject: string; state: string; attachments: Array<{ filename: string; path: string }> };
}

export async function startPbxStack(t: Teardown, build: AsteriskBuild, o: PbxStackOptions = {}): Promise<PbxStack> {
  const users: PbxUser[] = [
    { endpoint: 'alice', number: '+46701111111', password: 'alice-Passw0rd', ...o.alice },
    { endpoint: 'bob', number: '+46702222222', password: 'bob-Passw0rd', ...o.bob },
    ...(o.users ?? []),
  ];
  const agiPort = await freePort('tcp'); // fixed, so that a restarted websms is found where the dialplan looks
  const amiPort = await freePort('tcp');
  const apiPort = await freePort('tcp'); // fixed too: MiniVM's mail command finds the daemon there
  const itsp = await startItspDouble({ default: twilioLike() });
  t.teardown(() => itsp.stop());
  const dir = tempDir();
  const conf = writeConfig({
    dir,
    amiPort,
    agi: `listen = 127.0.0.1:${agiPort}`,
    api: `listen = 127.0.0.1:${apiPort}`,
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
    startPbx({
      build,
      users,
      amiSecret: AMI_SECRET,
      agiPort,
      amiPort,
      // as docs/dialplan.md says, with this stack's configuration and run folder; in a script,
      // because MiniVM cuts mailcmd at 159 characters (app_minivm.c: global_mailcmd[160])
      mailcmd: (run) => {
        const script = path.join(run, 'websms-voicemail-mail');
        fs.writeFileSync(script, `#!/bin/sh\nWEBSMS_CONFIG='${conf}' exec '${process.execPath}' '${MAIN}' voicemail-mail --spool '${run}/var/spool/voicemail' "$@"\n`, { mode: 0o755 });
        return script;
      },
      ...o.pbx,
    }).then((p) => {
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
    voicemail: {
      stored: () => storedVoicemail(path.join(dir, 'var', 'websms.db')),
      async waitForMail(n = 1, timeoutMs = 15_000) {
        const rows = await until(() => {
          const r = storedVoicemail(path.join(dir, 'var', 'websms.db'));
          return r.length >= n && r;
        }, timeoutMs, `${n} voicemail e-mail(s) stored by websms`);
        return rows[n - 1]!;
      },
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

function storedVoicemail(file: string): StoredVoicemail[] {
  const db = new Database(file, { readonly: true });
  try {
    const rows = db
      .prepare(
        `SELECT v.id, v.recipient, v.state, v.message, o.kind, o.recipient AS oRecipient, o.subject, o.state AS oState, o.attachments
         FROM voicemail v LEFT JOIN email_outbox o ON o.id = v.outbox_id ORDER BY v.id`,
      )
      .all() as Array<{ id: number; recipient: string; state: string; message: Buffer; kind: string; oRecipient: string; subject: string; oState: string; attachments: string }>;
    return rows.map((r) => {
      const m = readVoicemailMail(r.message);
      const outbox = { kind: r.kind, recipient: r.oRecipient, subject: r.subject, state: r.oState, attachments: JSON.parse(r.attachments ?? '[]') as Array<{ filename: string; path: string }> };
      return { id: r.id, recipient: r.recipient, state: r.state, text: r.message.toString('latin1'), attachment: m.recording ?? Buffer.alloc(0), outbox };
    });
  } finally {
    db.close();
  }
}
