// PrivateDial's minivm.conf already says how this host sends e-mail: MiniVM
// pipes voicemail to its [general] mailcmd, which is PrivateDial's
// minivm-send (-H host:port -P protocol -u user -p password -f from) or a
// local sendmail. websms reads the same settings for [email], so the SMTP
// server is configured once. Only what the command states is taken; a command
// websms cannot read (msmtp with its own rc file, a script) is reported, with
// the keys to set instead.

import fs from 'node:fs';
import path from 'node:path';
import { parseIni } from './ini.js';

/** The [email] keys minivm.conf can supply, as they would be written in websms.conf. */
export type MinivmKey = 'smtp_host' | 'smtp_port' | 'smtp_tls' | 'smtp_username' | 'smtp_password' | 'from';

export interface MinivmValue {
  value: string;
  line: number;
  /** What it was read from, for check-config: "mailcmd -H". */
  what: string;
}

export type MinivmRead =
  | { ok: true; file: string; values: Partial<Record<MinivmKey, MinivmValue>>; note?: string }
  | { ok: false; reason: string };

/** minivm-send's -P protocols, as [email] smtp_tls. */
const PROTOCOLS: Record<string, string> = { smtps: 'tls', tls: 'tls', starttls: 'starttls', smtp: 'none' };
const PORT_OF: Record<string, string> = { tls: '465', starttls: '587', none: '25' };

export function readMinivm(file: string): MinivmRead {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied (websms runs as its own user: give it read access, or set the keys in [email])' : (err as Error).message;
    return { ok: false, reason: `cannot read ${file}: ${why}` };
  }
  const doc = parseIni(text);
  const general = doc.sections.find((s) => s.name.toLowerCase() === 'general');
  const mailcmd = general?.entries.find((e) => e.key.toLowerCase() === 'mailcmd');
  const values: Partial<Record<MinivmKey, MinivmValue>> = {};
  // The From of MiniVM's own template, when the command names no sender.
  for (const s of doc.sections) {
    if (!s.name.toLowerCase().startsWith('template')) continue;
    const from = s.entries.find((e) => e.key.toLowerCase() === 'fromemail');
    if (from && values.from === undefined) values.from = { value: from.value.trim(), line: from.line, what: `[${s.name}] fromemail` };
  }
  if (mailcmd === undefined) {
    return { ok: false, reason: `${file} has no [general] mailcmd to take the SMTP server from; set [email] smtp_host` };
  }
  const words = shellWords(mailcmd.value);
  const program = path.basename(words[0] ?? '');
  const at = (what: string, value: string): MinivmValue => ({ value, line: mailcmd.line, what: `mailcmd ${what}` });

  if (program === 'sendmail') {
    // A local MTA's sendmail: the same MTA takes SMTP on loopback.
    values.smtp_host = at('(sendmail: this host\'s mail server)', '127.0.0.1');
    values.smtp_port = at('(sendmail: this host\'s mail server)', '25');
    values.smtp_tls = at('(sendmail: this host\'s mail server, on loopback)', 'none');
    const f = option(words, '-f');
    if (f !== undefined) values.from = at('-f', f);
    return { ok: true, file, values, note: `${file} line ${mailcmd.line}: mailcmd is sendmail, so websms sends through this host's own mail server at 127.0.0.1:25` };
  }
  if (program !== 'minivm-send') {
    return {
      ok: false,
      reason: `${file} line ${mailcmd.line}: mailcmd runs ${program || '(nothing)'}, whose SMTP settings websms cannot read (it reads minivm-send's -H, -P, -u, -p and -f, or sendmail); set [email] smtp_host, smtp_port, smtp_tls, smtp_username and from, and the password in WEBSMS_EMAIL_SMTP_PASSWORD`,
    };
  }
  const hostPort = option(words, '-H');
  if (hostPort === undefined) return { ok: false, reason: `${file} line ${mailcmd.line}: minivm-send without -H host:port; set [email] smtp_host` };
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(hostPort) ?? /^([^:]+)(?::(\d+))?$/.exec(hostPort);
  if (!m) return { ok: false, reason: `${file} line ${mailcmd.line}: minivm-send -H "${hostPort}" is not host:port; set [email] smtp_host` };
  const proto = (option(words, '-P') ?? 'starttls').toLowerCase();
  const tls = PROTOCOLS[proto];
  if (tls === undefined) return { ok: false, reason: `${file} line ${mailcmd.line}: minivm-send -P "${proto}" is not one of smtp, smtps, tls, starttls; set [email] smtp_tls` };
  values.smtp_host = at('-H', m[1]!);
  values.smtp_port = at(m[2] === undefined ? '-P (its usual port)' : '-H', m[2] ?? PORT_OF[tls]!);
  values.smtp_tls = at('-P', tls);
  const user = option(words, '-u');
  if (user !== undefined) values.smtp_username = at('-u', user);
  const password = option(words, '-p');
  if (password !== undefined) values.smtp_password = at('-p', password);
  const from = option(words, '-f');
  if (from !== undefined) values.from = at('-f', from);
  return { ok: true, file, values };
}

/** The value after a flag: "-f x" or "-fx". */
function option(words: string[], flag: string): string | undefined {
  for (let i = 1; i < words.length; i++) {
    const w = words[i]!;
    if (w === flag) return words[i + 1];
    if (w.startsWith(flag) && w.length > flag.length && !w.startsWith('--')) return w.slice(flag.length);
  }
  return undefined;
}

/** Splits a command line as sh would: whitespace, '...' and "..." quoting, backslash escapes. No expansion. */
export function shellWords(cmd: string): string[] {
  const out: string[] = [];
  let cur = '';
  let started = false;
  for (let i = 0; i < cmd.length; i++) {
    const c = cmd[i]!;
    if (c === "'") {
      const end = cmd.indexOf("'", i + 1);
      cur += end < 0 ? cmd.slice(i + 1) : cmd.slice(i + 1, end);
      i = end < 0 ? cmd.length : end;
      started = true;
    } else if (c === '"') {
      i++;
      for (; i < cmd.length && cmd[i] !== '"'; i++) {
        if (cmd[i] === '\\' && i + 1 < cmd.length && '"\\$`'.includes(cmd[i + 1]!)) i++;
        cur += cmd[i];
      }
      started = true;
    } else if (c === '\\' && i + 1 < cmd.length) {
      cur += cmd[++i];
      started = true;
    } else if (/\s/.test(c)) {
      if (started) out.push(cur);
      cur = '';
      started = false;
    } else {
      cur += c;
      started = true;
    }
  }
  if (started) out.push(cur);
  return out;
}
