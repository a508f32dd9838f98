// Reads replies from a mailbox over IMAP (imapflow): every unseen message is
// handed to the reply intake, then marked seen; one the database could not
// take now stays unseen and is read again at the next look. Looks when the
// server says a message came (IMAP IDLE, which imapflow keeps up on its own)
// and every [email] imap_poll besides; reconnects with backoff. A reply seen
// twice (marked unseen by hand, or also delivered to the listener) is still
// one text: the intake knows its Message-ID.

import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { ImapFlow } from 'imapflow';
import { retryDelay } from '../backoff.js';
import type { EmailConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { ReplyIntake } from './replies.js';

export interface ImapHealth {
  connected: boolean;
  lastError: { reason: string; at: number } | null;
  lastCheckAt: number | null;
}

export interface ImapReader {
  start(): void;
  stop(): Promise<void>;
  /** Looks at the mailbox now (when connected); resolves when done. */
  check(): Promise<void>;
  health(): ImapHealth;
}

type ImapSettings = Pick<EmailConfig, 'imap' | 'caFile'>;

/** One IMAP client for these settings; connect() logs in (websms doctor uses it too). */
export function imapClient(cfg: ImapSettings): ImapFlow {
  const { imap } = cfg;
  const ca = cfg.caFile === '' ? undefined : [...tls.rootCertificates, fs.readFileSync(cfg.caFile, 'utf8')];
  return new ImapFlow({
    host: imap.host,
    port: imap.port,
    secure: imap.tls === 'tls',
    // starttls: the upgrade is required, never skipped; none: plain, on loopback only (the configuration says so).
    doSTARTTLS: imap.tls === 'starttls',
    auth: { user: imap.username, pass: imap.password },
    tls: { rejectUnauthorized: true, minVersion: 'TLSv1.2', ...(net.isIP(imap.host) === 0 ? { servername: imap.host } : {}), ...(ca ? { ca } : {}) },
    logger: false,
    connectionTimeout: 30_000,
    greetingTimeout: 16_000,
    socketTimeout: 10 * 60_000,
  });
}

/** A reason without the password, whatever the server or the library put in it. */
export function imapReason(err: unknown, password: string): string {
  const e = err as { message?: string; responseText?: string; code?: string; authenticationFailed?: boolean };
  const raw = e.authenticationFailed ? `login refused${e.responseText ? `: ${e.responseText}` : ''}; check [email] imap_username and WEBSMS_EMAIL_IMAP_PASSWORD` : `${e.code ? `${e.code}: ` : ''}${e.responseText ?? e.message ?? String(err)}`;
  const one = raw.replace(/\s+/g, ' ').slice(0, 300);
  return password === '' ? one : one.split(password).join('(hidden)');
}

const RECONNECT_MIN_MS = 5000;
const RECONNECT_MAX_MS = 5 * 60_000;

export function createImapReader(deps: { email: () => EmailConfig; intake: ReplyIntake; log: Logger; now?: () => number }): ImapReader {
  const { log } = deps;
  const now = deps.now ?? Date.now;
  let client: ImapFlow | undefined;
  let running = false;
  let failures = 0;
  let reconnect: NodeJS.Timeout | undefined;
  let poll: NodeJS.Timeout | undefined;
  let checking: Promise<void> | undefined;
  let again = false;
  const health: ImapHealth = { connected: false, lastError: null, lastCheckAt: null };

  function failed(err: unknown): void {
    const cfg = deps.email();
    health.lastError = { reason: imapReason(err, cfg.imap.password), at: now() };
    log.warn({ host: cfg.imap.host, port: cfg.imap.port, reason: health.lastError.reason }, 'IMAP: cannot read replies from the mailbox; trying again');
  }

  function scheduleReconnect(): void {
    if (!running || reconnect !== undefined) return;
    failures++;
    const wait = retryDelay(failures, RECONNECT_MIN_MS, RECONNECT_MAX_MS);
    reconnect = setTimeout(() => {
      reconnect = undefined;
      void connect();
    }, wait);
    reconnect.unref();
  }

  async function connect(): Promise<void> {
    if (!running) return;
    const cfg = deps.email();
    const c = imapClient(cfg);
    c.on('error', (err: unknown) => failed(err));
    c.on('close', () => {
      if (client !== c) return;
      client = undefined;
      health.connected = false;
      clearTimeout(poll);
      if (running) scheduleReconnect();
    });
    // A new message in the mailbox (imapflow idles between commands).
    c.on('exists', () => void check());
    try {
      await c.connect();
    } catch (err) {
      failed(err);
      c.close();
      scheduleReconnect();
      return;
    }
    if (!running) {
      await c.logout().catch(() => c.close());
      return;
    }
    client = c;
    failures = 0;
    health.connected = true;
    log.info({ host: cfg.imap.host, mailbox: cfg.imap.mailbox }, 'IMAP: reading replies from the mailbox');
    await check();
  }

  function armPoll(): void {
    clearTimeout(poll);
    if (!running || client === undefined) return;
    poll = setTimeout(() => void check(), deps.email().imap.pollMs);
    poll.unref();
  }

  function check(): Promise<void> {
    if (checking) {
      again = true;
      return checking;
    }
    checking = (async () => {
      do {
        again = false;
        await look();
      } while (again && running);
    })().finally(() => {
      checking = undefined;
      armPoll();
    });
    return checking;
  }

  async function look(): Promise<void> {
    const c = client;
    if (!c || !running) return;
    const mailbox = deps.email().imap.mailbox;
    try {
      const lock = await c.getMailboxLock(mailbox);
      try {
        const uids = (await c.search({ seen: false }, { uid: true })) || [];
        for (const uid of [...uids].sort((a, b) => a - b)) {
          if (!running) break;
          const msg = await c.fetchOne(String(uid), { source: true }, { uid: true });
          if (!msg || !msg.source) continue;
          const o = await deps.intake.take(msg.source, 'imap');
          // Not stored now: left unseen, read again at the next look.
          if (o.status === 'retry') break;
          await c.messageFlagsAdd(String(uid), ['\\Seen'], { uid: true });
        }
      } finally {
        lock.release();
      }
      health.lastCheckAt = now();
      health.lastError = null;
    } catch (err) {
      failed(err);
      // A broken session is closed; its 'close' reconnects.
      if (client === c && !c.usable) c.close();
    }
  }

  return {
    start() {
      if (running) return;
      running = true;
      void connect();
    },
    async stop() {
      running = false;
      clearTimeout(reconnect);
      reconnect = undefined;
      clearTimeout(poll);
      const c = client;
      client = undefined;
      health.connected = false;
      if (checking) await Promise.race([checking, new Promise((r) => setTimeout(r, 3000).unref())]);
      if (c) await Promise.race([c.logout().catch(() => c.close()), new Promise((r) => setTimeout(r, 2000).unref())]).finally(() => c.close());
    },
    check,
    health: () => ({ ...health }),
  };
}
