// `websms voicemail-mail`: MiniVM's mail command (minivm.conf mailcmd). The
// dialplan cannot learn what became of a voicemail's e-mail (MinivmNotify
// starts the mail command in the background and reports SUCCESS at once), so
// this command decides what happens to the recording: it is deleted only once
// the daemon has stored the e-mail that carries it, and kept otherwise, with
// the e-mail, until a later run hands it over (docs/dialplan.md, "Voicemail").

import fs from 'node:fs';
import { apiTarget, ApiRefused, ApiUnavailable, type ApiTarget } from './api-client.js';
import { parseCommand, printJson } from './command.js';
import { readConfig } from './config.js';
import { EX_DATAERR, EX_NOPERM, EX_TEMPFAIL, EX_UNAVAILABLE, exitCodes } from './exit.js';
import type { CommandContext } from './types.js';
import { formatDuration, parseDuration } from '../config/duration.js';
import { readVoicemailMail, sha256 } from '../voicemail/mail.js';
import { VoicemailError } from '../voicemail/errors.js';
import { findRecordings, keepPending, pendingMails, removeRecording } from '../voicemail/spool.js';

const USAGE = `usage: websms [--config PATH] voicemail-mail [--spool DIR] [--keep AGE] [--retry] [--json]

MiniVM's mail command: in minivm.conf, mailcmd = websms voicemail-mail.
Reads one voicemail e-mail (the recording attached) from standard input and
hands it to the running daemon, which stores it before it answers and sends
it. Only then is the recording deleted from MiniVM's spool (the file whose
bytes are the attachment). When the daemon cannot take it, the e-mail is
kept in DIR/websms-pending/, the recording stays, a line on standard error
says why (MiniVM runs this in the background: the line goes where Asterisk's
own output goes, journalctl -u asterisk under systemd), and the exit code is
not 0. Every run first hands over the e-mails kept before; one kept longer
than --keep is removed with its recording, and a line says so.
  --spool DIR   MiniVM's spool, <astspooldir>/voicemail; default
                /var/spool/asterisk/voicemail
  --keep AGE    how long a kept e-mail waits for the daemon; default 30d
  --retry       only hand over kept e-mails (for a timer); reads nothing
  --json        one JSON object per e-mail handled, one per line

The daemon's API address and token come from the configuration, as for
websms send; this command never writes the database itself.

${exitCodes([
  [0, 'stored by the daemon (or, with --retry, nothing left waiting)'],
  [64, 'usage error'],
  [65, 'not an e-mail, or one without a To: address: nothing kept, the recording stays'],
  [69, 'the daemon does not answer: the e-mail is kept for the next run'],
  [75, 'the daemon cannot store it right now: the e-mail is kept for the next run'],
  [77, 'the daemon refused the API token: the e-mail is kept for the next run'],
  [78, 'configuration errors: the e-mail is kept for the next run'],
])}`;

const SPEC = { name: 'voicemail-mail', usage: USAGE, values: ['--spool', '--keep'], flags: ['--retry', '--json'] };
const NAME = 'websms voicemail-mail';

type Outcome = { ok: true; id: number; removed: string[] } | { ok: false; code: number; reason: string };

export async function voicemailMailCommand({ args, argv }: CommandContext): Promise<number> {
  const p = parseCommand(args, SPEC);
  if (!p.ok) return p.code;
  const spool = p.opts.values['--spool'] ?? '/var/spool/asterisk/voicemail';
  let keepMs: number;
  try {
    keepMs = parseDuration(p.opts.values['--keep'] ?? '30d');
  } catch (err) {
    process.stderr.write(`${NAME}: --keep: ${(err as Error).message}\n`);
    return 64;
  }
  const retryOnly = p.opts.flags.has('--retry');
  if (!fs.existsSync(spool)) {
    // A wrong path would only show as recordings never deleted. MiniVM cuts mailcmd at 159 characters.
    process.stderr.write(`${NAME}: the spool ${spool} does not exist: check --spool (and that minivm.conf's mailcmd is under 160 characters, MiniVM cuts it there); recordings are kept\n`);
  }
  const report = (what: Record<string, unknown>, line: string, toStderr = false): void => {
    if (p.json) printJson(what);
    else (toStderr ? process.stderr : process.stdout).write(`${NAME}: ${line}\n`);
  };

  // Standard input first: MiniVM deletes its temporary file once this exits.
  const mail = retryOnly ? undefined : await readStdin();
  const now = Date.now();
  const r = readConfig(argv, 'the e-mail is kept for the next run');
  if (!r.ok) {
    if (mail) keep(spool, mail, now, report);
    return r.code;
  }
  const target = apiTarget(r.config, process.env);

  // E-mails kept by earlier runs, oldest first: in order, and stop at the first the daemon cannot take.
  let daemonDown = false;
  for (const { file, keptAt } of pendingMails(spool)) {
    const raw = fs.readFileSync(file);
    if (now - keptAt > keepMs) {
      const removed = removeFor(spool, raw);
      fs.rmSync(file, { force: true });
      report({ expired: file, removed }, `removed ${file}, kept since ${new Date(keptAt).toISOString()} (longer than --keep ${formatDuration(keepMs)}) without the daemon taking it, and its recording ${removed.join(', ') || '(not found)'}`, true);
      continue;
    }
    if (daemonDown) continue;
    const o = await handOver(target, spool, raw);
    if (o.ok) {
      fs.rmSync(file, { force: true });
      report({ stored: o.id, from: file, removed: o.removed }, `kept e-mail ${file} stored as voicemail ${o.id}; recording removed: ${o.removed.join(', ') || '(none found)'}`);
    } else if (o.code === EX_DATAERR) {
      fs.rmSync(file, { force: true });
      report({ refused: file, reason: o.reason }, `kept e-mail ${file} refused by the daemon, dropped (its recording stays): ${o.reason}`, true);
    } else {
      daemonDown = true;
      report({ waiting: file, reason: o.reason }, `kept e-mail ${file} still waits: ${o.reason}`, true);
    }
  }
  if (!mail) return daemonDown ? EX_TEMPFAIL : 0;

  const o = daemonDown ? ({ ok: false, code: EX_TEMPFAIL, reason: 'the daemon could not take the e-mails kept before' } as const) : await handOver(target, spool, mail);
  if (o.ok) {
    report({ stored: o.id, removed: o.removed }, `stored as voicemail ${o.id}; recording removed: ${o.removed.join(', ') || '(none found)'}`);
    return 0;
  }
  if (o.code === EX_DATAERR) {
    report({ refused: true, reason: o.reason }, `not taken, the recording stays in ${spool}: ${o.reason}`, true);
    return o.code;
  }
  keep(spool, mail, now, report, o.reason);
  return o.code;
}

/** Hands one e-mail to the daemon; on 201 removes the recording it carries. */
async function handOver(target: ApiTarget | { unavailable: string }, spool: string, raw: Buffer): Promise<Outcome> {
  let digest: string | undefined;
  let bytes = 0;
  try {
    const mail = readVoicemailMail(raw);
    if (mail.recording) [digest, bytes] = [sha256(mail.recording), mail.recording.length];
  } catch (err) {
    if (err instanceof VoicemailError) return { ok: false, code: EX_DATAERR, reason: err.reason };
    throw err;
  }
  if ('unavailable' in target) return { ok: false, code: EX_UNAVAILABLE, reason: target.unavailable };
  let id: number;
  try {
    id = await post(target, raw);
  } catch (err) {
    if (err instanceof ApiUnavailable) return { ok: false, code: EX_UNAVAILABLE, reason: err.message };
    if (err instanceof ApiRefused) {
      const code = err.status === 400 || err.status === 413 || err.status === 415 ? EX_DATAERR : err.status === 401 ? EX_NOPERM : EX_TEMPFAIL;
      return { ok: false, code, reason: `${err.status} ${err.reason}` };
    }
    throw err;
  }
  const removed = digest ? findRecordings(spool, digest, bytes).flatMap(removeRecording) : [];
  return { ok: true, id, removed };
}

function removeFor(spool: string, raw: Buffer): string[] {
  try {
    const { recording } = readVoicemailMail(raw);
    return recording ? findRecordings(spool, sha256(recording), recording.length).flatMap(removeRecording) : [];
  } catch {
    return [];
  }
}

async function post(target: ApiTarget, raw: Buffer): Promise<number> {
  const headers: Record<string, string> = { 'content-type': 'message/rfc822', accept: 'application/json' };
  if (target.token !== '') headers.authorization = `Bearer ${target.token}`;
  let res: Response;
  try {
    res = await fetch(`${target.url}/api/voicemail`, { method: 'POST', headers, body: raw, signal: AbortSignal.timeout(30_000) });
  } catch (err) {
    throw new ApiUnavailable(`no answer from the websms daemon at ${target.url}: ${(err as Error & { cause?: { code?: string } }).cause?.code ?? (err as Error).message}`);
  }
  const body = (await res.json().catch(() => undefined)) as { voicemail?: { id?: unknown }; error?: { code?: string; reason?: string } } | undefined;
  if (res.status === 201 && typeof body?.voicemail?.id === 'number') return body.voicemail.id;
  throw new ApiRefused(res.status, body?.error?.code ?? `http_${res.status}`, body?.error?.reason ?? `HTTP ${res.status}`);
}

function keep(spool: string, mail: Buffer, now: number, report: (w: Record<string, unknown>, l: string, e?: boolean) => void, reason = 'the configuration cannot be read'): void {
  let file: string;
  try {
    file = keepPending(spool, mail, now);
  } catch (err) {
    report({ kept: false, reason }, `NOT taken and NOT kept (${(err as Error).message}); the recording stays in ${spool}: ${reason}`, true);
    return;
  }
  report({ kept: file, reason }, `not taken, kept as ${file} for the next run; the recording stays in ${spool}: ${reason}`, true);
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
