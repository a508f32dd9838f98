// The checks of `websms doctor` that are not about AMI: each looks at one part
// from the outside, changes nothing, and says what to do when it is not ok.

import Database from 'better-sqlite3';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Config, InterfaceConfig } from '../config/types.js';
import { configWarnings } from '../config/warnings.js';
import { adapterFor } from '../../providers/index.js';
import { redactorFor, type Redact } from '../redact.js';
import { knownSchemaVersion, schemaVersion } from '../store/db.js';
import { ApiRefused, apiRequest, apiTarget } from './api-client.js';

export type Status = 'ok' | 'warn' | 'fail';

export interface Finding {
  /** What was checked: "database", "FastAGI", "interface itsp", ... */
  check: string;
  status: Status;
  /** What was found, and what to do when it is not ok. */
  detail: string;
}

export function configFindings(config: Config): Finding[] {
  const where = config.file ?? 'built-in defaults (no websms.conf found)';
  return [
    { check: 'configuration', status: 'ok', detail: `${where}: valid (websms check-config prints it)` },
    ...configWarnings(config).map((w): Finding => ({ check: 'configuration', status: 'warn', detail: w.message })),
  ];
}

export function databaseFindings(config: Config): Finding[] {
  const file = path.resolve(config.general.database);
  const check = 'database';
  if (!fs.existsSync(file)) {
    const dir = nearestDir(path.dirname(file));
    if (!fs.statSync(dir).isDirectory()) {
      return [{ check, status: 'fail', detail: `${file} cannot be created: ${dir} is a file, not a directory; fix [general] database` }];
    }
    if (!writable(dir)) {
      return [{ check, status: 'fail', detail: `${file} does not exist and ${dir} is not writable by this user: websms cannot create it; fix [general] database or the directory's owner` }];
    }
    return [{ check, status: 'warn', detail: `${file} does not exist yet; websms creates it at start (${dir} is writable)` }];
  }
  const found: Finding[] = [];
  let version: number;
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      db.pragma('busy_timeout = 2000');
      version = schemaVersion(db);
      db.prepare('SELECT count(*) FROM sqlite_master').get();
    } finally {
      db.close();
    }
  } catch (err) {
    return [{ check, status: 'fail', detail: `${file} cannot be opened: ${(err as Error).message}; is it a websms database, and readable by this user?` }];
  }
  const known = knownSchemaVersion();
  if (version > known) {
    found.push({ check, status: 'fail', detail: `${file} has schema version ${version}, newer than this websms knows (${known}): a newer websms wrote it; upgrade websms` });
  } else if (version < known) {
    found.push({ check, status: 'warn', detail: `${file} has schema version ${version}; websms brings it to ${known} at its next start` });
  } else found.push({ check, status: 'ok', detail: `${file} opens, schema version ${version}` });
  if (!writable(file) || !writable(path.dirname(file))) {
    found.push({ check, status: 'fail', detail: `${file} or its directory is not writable by this user; the daemon's user must own both (it also writes ${path.basename(file)}-wal)` });
  } else found.push({ check, status: 'ok', detail: `${file} and its directory are writable` });
  const mode = fs.statSync(file).mode & 0o777;
  if (mode & 0o007) {
    found.push({ check, status: 'warn', detail: `${file} is readable by every user (mode ${mode.toString(8).padStart(4, '0')}): it holds message bodies; chmod 600 it (the systemd unit's UMask keeps new files private)` });
  }
  return found;
}

function nearestDir(dir: string): string {
  let d = dir;
  while (!fs.existsSync(d) && path.dirname(d) !== d) d = path.dirname(d);
  return d;
}

function writable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Host to connect to for a listen address: a wildcard is reached on loopback. */
function reachable(host: string): string {
  return host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
}

/** Is the running daemon there? Its /healthz and /readyz on the management listener. */
export async function daemonFindings(config: Config, timeoutMs: number): Promise<Finding[]> {
  const check = 'daemon';
  const target = apiTarget(config, process.env);
  if ('unavailable' in target) return [{ check, status: 'warn', detail: `cannot look for the daemon: ${target.unavailable}` }];
  try {
    await apiRequest(target, '/healthz', { timeoutMs });
  } catch (err) {
    return [{ check, status: 'warn', detail: `not running: ${(err as Error).message}; start it: systemctl start websms (or websms run)` }];
  }
  const found: Finding[] = [{ check, status: 'ok', detail: `running; its API answers at ${target.url}` }];
  try {
    await apiRequest(target, '/readyz', { timeoutMs });
    found.push({ check, status: 'ok', detail: 'ready (database, AMI, FastAGI)' });
  } catch (err) {
    if (err instanceof ApiRefused && err.status === 404) return found; // a daemon without /readyz
    found.push({ check, status: 'warn', detail: `running but not ready: ${(err as Error).message}` });
  }
  return found;
}

/** Does something accept connections on [agi] listen? (Connects and closes: no AGI session is started.) */
export function fastAgiFinding(config: Config, timeoutMs: number): Promise<Finding> {
  const check = 'FastAGI';
  const { listenHost, listenPort } = config.agi;
  if (listenPort === 0) return Promise.resolve({ check, status: 'warn', detail: '[agi] listen has port 0 (any free port): Asterisk cannot know it either; give a fixed port such as 4573' });
  const host = reachable(listenHost);
  return new Promise((resolve) => {
    const socket = net.connect({ host, port: listenPort });
    const done = (f: Finding): void => {
      socket.destroy();
      clearTimeout(timer);
      resolve(f);
    };
    const timer = setTimeout(() => done({ check, status: 'fail', detail: `no answer from ${host}:${listenPort} within ${Math.round(timeoutMs / 1000)} s` }), timeoutMs);
    socket.once('connect', () => done({ check, status: 'ok', detail: `${host}:${listenPort} accepts connections: hand-offs from the dialplan can reach websms` }));
    socket.once('error', (err: NodeJS.ErrnoException) =>
      done({
        check,
        status: 'fail',
        detail: `cannot connect to ${host}:${listenPort} (${err.code ?? err.message}): texts from phones fail at hand-off; is websms running ([agi] listen)?`,
      }),
    );
  });
}

/** Each interface's send credentials, where its provider can check them without sending a text. */
export async function interfaceFindings(config: Config, timeoutMs: number): Promise<Finding[]> {
  const out: Finding[] = [];
  // The provider's words about a refusal can echo a credential.
  const redact = redactorFor(config);
  for (const i of config.interfaces) out.push(await interfaceFinding(i, timeoutMs, redact));
  return out;
}

async function interfaceFinding(i: InterfaceConfig, timeoutMs: number, redact: Redact): Promise<Finding> {
  const check = `interface ${i.name}`;
  if (i.send.url === '') return { check, status: 'ok', detail: `receives texts at ${i.path}; sends none (no send_url), so there are no send credentials to check` };
  const adapter = adapterFor(i.provider);
  if (!adapter.checkCredentials) {
    return {
      check,
      status: 'warn',
      detail:
        `credentials not checked: the ${adapter.name} provider offers no way to check them without sending a text; ` +
        `send yourself one: websms send --interface ${i.name} --to YOUR_NUMBER --body test`,
    };
  }
  try {
    const r = await adapter.checkCredentials(i.send, timeoutMs);
    return r.ok
      ? { check, status: 'ok', detail: `${adapter.name} accepts the send credentials (${r.detail})` }
      : { check, status: 'fail', detail: redact(`${adapter.name} refuses the send credentials: ${r.reason}; check send_username/send_password/send_bearer`) };
  } catch (err) {
    return { check, status: 'fail', detail: redact(`could not check the credentials with ${adapter.name}: ${(err as Error).message}`) };
  }
}

/**
 * Texts by e-mail: who gets e-mail and through which server; a real login to
 * the SMTP server (nothing is sent) and to the reply mailbox; the reply
 * listener; and, when the daemon runs, its outbox.
 */
export async function emailFindings(config: Config, timeoutMs: number): Promise<Finding[]> {
  const check = 'e-mail';
  const e = config.email;
  if (e.users.length === 0) return [{ check, status: 'ok', detail: 'no [email] user: texts are not e-mailed (docs/email.md)' }];
  const viaMinivm = config.settings?.find((s) => s.name === 'email')?.keys.smtp_host?.source === 'minivm';
  const found: Finding[] = [
    {
      check,
      status: 'ok',
      detail: `${e.users.length} user(s) get e-mail from ${e.from} through ${e.smtp.host}:${e.smtp.port} (${e.smtp.tls}${e.smtp.username ? `, login ${e.smtp.username}` : ''})${viaMinivm ? `, as ${e.minivmFile} says` : ''}`,
    },
  ];
  const deadline = <T>(p: Promise<T>): Promise<T> =>
    Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs).unref())]);
  const { createSmtpClient } = await import('../email/smtp.js');
  try {
    await deadline(createSmtpClient({ ...e, smtp: { ...e.smtp, timeoutMs: Math.min(e.smtp.timeoutMs, timeoutMs) } }).verify());
    found.push({ check: 'e-mail SMTP', status: 'ok', detail: `${e.smtp.host}:${e.smtp.port} answers${e.smtp.tls === 'none' ? '' : ', TLS verified'}${e.smtp.username ? ', login accepted' : ''} (nothing was sent)` });
  } catch (err) {
    found.push({ check: 'e-mail SMTP', status: 'fail', detail: `${(err as { reason?: string }).reason ?? (err as Error).message}; e-mails wait in the outbox until this works` });
  }
  if (e.imap.host !== '') {
    const { imapClient, imapReason } = await import('../email/imap.js');
    const client = imapClient(e);
    client.on('error', () => undefined);
    try {
      await deadline(client.connect());
      const box = await deadline(client.mailboxOpen(e.imap.mailbox, { readOnly: true }));
      found.push({ check: 'e-mail IMAP', status: 'ok', detail: `login to ${e.imap.host}:${e.imap.port} as ${e.imap.username}; mailbox ${e.imap.mailbox} has ${box.exists} message(s)` });
    } catch (err) {
      found.push({ check: 'e-mail IMAP', status: 'fail', detail: `${e.imap.host}:${e.imap.port}: ${imapReason(err, e.imap.password)}; replies are not read until this works` });
    } finally {
      await client.logout().catch(() => client.close());
    }
  }
  if (e.replyListen === null && e.imap.host === '') {
    found.push({ check: 'e-mail replies', status: 'ok', detail: 'not read (no reply_listen, no imap_host): the e-mails say so' });
  }

  // What the running daemon says about its outbox and its listener.
  const target = apiTarget(config, process.env);
  if ('unavailable' in target) return found;
  let status: { email: { outbox: { queued: number; failed: number; oldestQueuedAt: string | null }; lastError: { reason: string } | null; replies: { listener: string | null } } };
  try {
    status = await apiRequest(target, '/api/email', { timeoutMs });
  } catch {
    return found; // not running (the daemon check says so), or an older daemon
  }
  const o = status.email.outbox;
  if (status.email.lastError && o.queued > 0) {
    found.push({ check: 'e-mail outbox', status: 'warn', detail: `${o.queued} e-mail(s) waiting since ${o.oldestQueuedAt}: ${status.email.lastError.reason}` });
  } else found.push({ check: 'e-mail outbox', status: 'ok', detail: `${o.queued} waiting, ${o.failed} given up` });
  const listener = status.email.replies.listener;
  if (listener !== null) {
    const [host, port] = [listener.slice(0, listener.lastIndexOf(':')), Number(listener.slice(listener.lastIndexOf(':') + 1))];
    const reached = await new Promise<string | undefined>((resolve) => {
      const s = net.connect({ host, port });
      const t = setTimeout(() => (s.destroy(), resolve('no answer')), timeoutMs);
      s.once('data', (d: Buffer) => (clearTimeout(t), s.end('QUIT\r\n'), resolve(/^220 /.test(d.toString('latin1')) ? undefined : 'not an SMTP greeting')));
      s.once('error', (err: NodeJS.ErrnoException) => (clearTimeout(t), resolve(err.code ?? err.message)));
    });
    found.push(
      reached === undefined
        ? { check: 'e-mail replies', status: 'ok', detail: `the reply listener answers on ${listener}: point your mail server's transport for ${e.replyTo || e.from} there` }
        : { check: 'e-mail replies', status: 'fail', detail: `the reply listener on ${listener} does not answer (${reached})` },
    );
  }
  return found;
}
