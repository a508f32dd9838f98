// `websms email`: how texts by e-mail are doing: who gets e-mail, the SMTP
// server, when texts are mailed, where replies come from, the outbox and its
// last error. From the running daemon; when it does not answer, from the
// configuration and the database (read-only), without the daemon's live state.

import type { Config } from '../config/types.js';
import { emailStatus, type EmailStatus } from '../email/status.js';
import { createEmailStore } from '../email/store.js';
import { apiRequest, apiTarget, ApiUnavailable } from './api-client.js';
import { err, out, parseCommand, printJson } from './command.js';
import { readConfig } from './config.js';
import { exitCodes } from './exit.js';
import { failure } from './texts-source.js';
import { openReadOnly } from './texts-db.js';
import { table } from './table.js';
import type { CommandContext } from './types.js';

const USAGE = `usage: websms [--config PATH] email [--json]

Shows texts by e-mail ([email], docs/email.md): the users and their
addresses, the SMTP server and From address, when texts are e-mailed (no
phone took them, copies, failure notices), where replies are read from, the
outbox (e-mails waiting, sent, given up) with the last SMTP error, and the
most recent e-mails. Asks the running daemon; when it does not answer, reads
the configuration and the database (read-only), without the live state (the
last error, the mailbox connection). Never shows a password. "websms doctor"
logs in to the SMTP server and the mailbox to check them.
  --json   {"email": {"enabled", "users", "smtp", "outbox", "lastError",
           "replies", "recent", ...}, "from": "api"|"db"}

${exitCodes([
  [0, 'shown'],
  [64, 'usage error'],
  [66, 'the daemon is not running and there is no database yet (or of another schema version)'],
  [78, 'configuration errors (listed on stderr)'],
])}`;

export async function emailCommand({ args, argv }: CommandContext): Promise<number> {
  const p = parseCommand(args, { name: 'email', usage: USAGE, flags: ['--json'] });
  if (!p.ok) return p.code;
  const r = readConfig(argv, 'nothing was shown');
  if (!r.ok) return r.code;
  const config = r.config;
  let status: EmailStatus;
  let from: 'api' | 'db';
  try {
    const target = apiTarget(config, process.env);
    try {
      if ('unavailable' in target) throw new ApiUnavailable(target.unavailable);
      status = (await apiRequest<{ email: EmailStatus }>(target, '/api/email')).email;
      from = 'api';
    } catch (e) {
      if (!(e instanceof ApiUnavailable)) throw e;
      status = fromDatabase(config);
      from = 'db';
      err(`websms: ${e.message}; read ${config.general.database} directly instead (read-only, without the daemon's live state).`);
    }
  } catch (e) {
    return failure(e, 'email', p.json);
  }
  if (p.json) {
    printJson({ email: status, from });
    return 0;
  }
  print(status);
  return 0;
}

function fromDatabase(config: Config): EmailStatus {
  const db = openReadOnly(config.general.database);
  try {
    return emailStatus(config, createEmailStore(db), { lastError: null, lastSentAt: null, pausedUntil: null }, undefined, config.email.replyListen?.port);
  } finally {
    db.close();
  }
}

function print(s: EmailStatus): void {
  if (!s.enabled) {
    out('E-mail is off: [email] has no user (docs/email.md says how to turn it on).');
    return;
  }
  out(`Users:     ${s.users.map((u) => `${u.number} -> ${u.address}`).join(', ')}`);
  if (s.smtp) out(`SMTP:      ${s.smtp.host}:${s.smtp.port} (${s.smtp.tls}${s.smtp.login ? ', with a login' : ''}), from ${s.smtp.from}`);
  const when = [
    s.unreachedAfterSeconds === null ? undefined : `texts no phone took within ${s.unreachedAfterSeconds} s`,
    s.copy === 'none' ? undefined : s.copy === 'all' ? 'copies of every text' : 'copies of texts received',
    s.failures ? 'failure notices' : undefined,
  ].filter((x) => x !== undefined);
  out(`Mailed:    ${when.length > 0 ? when.join('; ') : 'nothing (unreached_after = off, copy = none, failures = no)'}`);
  const replies = [
    s.replies.listener === null ? undefined : `SMTP listener on ${s.replies.listener}`,
    s.replies.imap === null
      ? undefined
      : `mailbox ${s.replies.imap.mailbox} at ${s.replies.imap.host}${s.replies.imap.connected ? ' (logged in)' : s.replies.imap.lastError ? ` (not logged in: ${s.replies.imap.lastError.reason})` : ''}`,
  ].filter((x) => x !== undefined);
  out(`Replies:   ${replies.length > 0 ? replies.join('; ') : 'not read'}`);
  const o = s.outbox;
  out(`Outbox:    ${o.queued} waiting${o.oldestQueuedAt ? ` (oldest since ${o.oldestQueuedAt})` : ''}, ${o.sending} sending, ${o.sent} sent, ${o.failed} given up`);
  if (s.lastError) out(`Last error: ${s.lastError.reason} (${s.lastError.at})${s.pausedUntil ? `; next try ${s.pausedUntil}` : ''}`);
  if (s.recent.length > 0) {
    out();
    out(table(['ID', 'KIND', 'STATE', 'TRIES', 'TEXT', 'TO', 'QUEUED', 'REASON'], s.recent.map((e) => [String(e.id), e.kind, e.state, String(e.attempts), e.ref ?? '-', e.to, e.createdAt, e.reason ?? ''])));
  }
}
