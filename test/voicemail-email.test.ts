// A voicemail from MiniVM's spool to the recipient's mail server, end to end:
// the e-mail written as app_minivm.c writes it, handed to the real
// `websms voicemail-mail` (node dist/src/main.js, the e-mail on standard input
// from a temporary file, as MiniVM runs `( mailcmd < tmp ; rm -f tmp ) &`),
// stored by the real daemon and sent by its outbox to a mail server that
// speaks SMTP on loopback (test/doubles/smtp-server.ts: STARTTLS, a login).
// What each step leaves behind is checked: MiniVM's spool, websms's saved
// recording, the stored e-mail.
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { FROM, SMTP_USER, hasOpenssl, setupEmail, type EmailStack } from './helpers/email.js';
import { MAIN, sleep, until } from './helpers/stack.js';
import { tempDir } from './helpers/tmp.js';

const skipWithoutOpenssl = hasOpenssl() ? test : test.skip;
const DAY = 86_400_000;

/** A real WAV: 8 kHz mono 16-bit PCM, a tone with noise (every byte value occurs), `samples` long. */
function wav(samples: number, hz: number): Buffer {
  const data = Buffer.alloc(samples * 2);
  const noise = randomBytes(samples);
  for (let i = 0; i < samples; i++) data.writeInt16LE(Math.round(12000 * Math.sin((2 * Math.PI * hz * i) / 8000)) + noise[i]! - 128, i * 2);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVEfmt ', 8, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(8000, 24);
  h.writeUInt32LE(16000, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

/**
 * The e-mail as app_minivm.c's sendmail() writes it for a mailbox with no
 * section in minivm.conf (the suite's case: an empty full name), with the
 * shipped template: headers with bare LF, the caller's name MIME-encoded in
 * the subject, the text 8bit UTF-8, the recording base64 in 72-character
 * lines ending CRLF, and the closing "." line.
 */
function minivmMail(to: string, recording: Buffer): Buffer {
  const bound = `voicemail_bob${process.pid}${randomBytes(4).readUInt32LE()}`;
  const b64 = recording.toString('base64').match(/.{1,72}/g)!.join('\r\n') + '\r\n';
  return Buffer.from(
    'Date: Mon, 07 Dec 2026 04:33:29 +0100\n' +
      'From: "Voicemail" <voicemail-noreply@example.com>\n' +
      `Message-ID: <Asterisk-1804289383-bob-${process.pid}-voicemail-noreply@example.com>\n` +
      `To: "" <${to}>\n` +
      'Subject: =?UTF-8?Q?Voicemail_from_=22=C3=85sa=22_=3C+46701111111=3E?=\n' +
      'MIME-Version: 1.0\n' +
      `Content-Type: multipart/mixed; boundary="${bound}"\n\n\n` +
      `--${bound}\n` +
      'Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n\n' +
      '"Åsa" <+46701111111> left you a message of 0:03 on Monday, 07 December 2026 at 04:33.\nThe recording is attached.\n' +
      `--${bound}\n` +
      'Content-Type: audio/x-WAV; name="voicemailmsg.WAV"\n' +
      'Content-Transfer-Encoding: base64\n' +
      'Content-Description: Voicemail sound attachment.\n' +
      'Content-Disposition: attachment; filename="voicemail.WAV"\n\n' +
      b64 +
      `\n\n--${bound}--\n.\n`,
    'utf8',
  );
}

/** MiniVM's spool after MinivmRecord: the recording's metadata file and its .WAV, in the mailbox's tmp folder. */
function spoolWith(recording: Buffer): { spool: string; files: string[] } {
  const spool = tempDir('websms-minivm-');
  const dir = path.join(spool, 'example.org', 'bob', 'tmp');
  fs.mkdirSync(dir, { recursive: true });
  const files = [path.join(dir, 'Kq3xZ1'), path.join(dir, 'Kq3xZ1.WAV')];
  fs.writeFileSync(files[0]!, '');
  fs.writeFileSync(files[1]!, recording);
  return { spool, files };
}

/**
 * Runs `websms voicemail-mail` as MiniVM does: the e-mail in a temporary
 * file on standard input, removed once the command exited. The daemon's API
 * listens on a port of its own choosing, so the command is told where
 * (WEBSMS_API_URL); everything else comes from the daemon's configuration.
 */
function mailcmd(s: EmailStack, spool: string, mail: Buffer): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const tmp = path.join(tempDir('websms-astmail-'), 'astmail-Xy12ab');
  fs.writeFileSync(tmp, mail, { mode: 0o600 });
  const stdin = fs.openSync(tmp, 'r');
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [MAIN, '--config', path.join(s.dir, 'websms.conf'), 'voicemail-mail', '--spool', spool], {
      env: { PATH: process.env.PATH, WEBSMS_API_URL: s.api },
      stdio: [stdin, 'pipe', 'pipe'],
    });
    fs.closeSync(stdin);
    let stdout = '';
    let stderr = '';
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    proc.once('error', reject);
    proc.once('close', (code) => {
      clearTimeout(timer);
      fs.rmSync(tmp, { force: true });
      resolve({ code, stdout, stderr });
    });
  });
}

/** websms's own copies of recordings: the files saved beside the database. */
function savedRecordings(s: EmailStack): string[] {
  const dir = path.join(s.dir, 'var', 'voicemail');
  return fs.existsSync(dir) ? fs.readdirSync(dir).map((f) => path.join(dir, f)) : [];
}

/** The voicemail row (db/014) as another process would read it. */
function voicemailRow(s: EmailStack, id: number): { state: string; message: Buffer; reason: string | null } {
  const db = new Database(path.join(s.dir, 'var', 'websms.db'), { readonly: true });
  try {
    return db.prepare('SELECT state, message, reason FROM voicemail WHERE id = ?').get(id) as { state: string; message: Buffer; reason: string | null };
  } finally {
    db.close();
  }
}

/** Hands one MiniVM e-mail over and checks what the command did: exit 0, the spool's recording deleted, nothing else touched. */
async function handOver(t: ExecutionContext, s: EmailStack, recording: Buffer): Promise<number> {
  const { spool, files } = spoolWith(recording);
  // Another message, recorded meanwhile, whose e-mail is still to come: the command must leave it.
  const other = path.join(spool, 'example.org', 'bob', 'tmp', 'Pw8tYc.WAV');
  fs.writeFileSync(other, wav(800, 880));
  const r = await mailcmd(s, spool, minivmMail('bob@example.org', recording));
  t.is(r.code, 0, r.stderr);
  const m = /^websms voicemail-mail: stored as voicemail (\d+); recording removed: (.*)$/m.exec(r.stdout);
  t.truthy(m, r.stdout);
  t.deepEqual(m![2]!.split(', ').sort(), [...files].sort(), 'the recording and its metadata file, named');
  for (const f of files) t.false(fs.existsSync(f), `${f} deleted from MiniVM's spool`);
  t.true(fs.existsSync(other), 'a recording of another e-mail stays');
  t.deepEqual(fs.readdirSync(spool).sort(), ['example.org'], 'nothing kept in websms-pending');
  return Number(m![1]);
}

/** What the mail server must have received: the recording byte for byte, a proper To:, sent by websms over TLS with its login. */
function checkReceived(t: ExecutionContext, mail: EmailStack['smtp']['mails'][number], recording: Buffer): void {
  t.deepEqual(mail.envelope.to, ['bob@example.org']);
  t.is(mail.envelope.from, FROM);
  t.true(mail.secure, 'over STARTTLS');
  t.is(mail.user, SMTP_USER);
  const head = mail.raw.toString('latin1').split(/\r\n\r\n/)[0]!;
  t.regex(head, /^To: bob@example\.org\r?$/m, 'the address alone');
  t.notRegex(head, /^To:.*""/m, 'no empty display name');
  t.deepEqual(mail.parsed.to && !Array.isArray(mail.parsed.to) ? mail.parsed.to.value : undefined, [{ address: 'bob@example.org', name: '' }]);
  t.is(mail.parsed.subject, 'Voicemail from "Åsa" <+46701111111>');
  t.is(mail.parsed.text?.trim(), '"Åsa" <+46701111111> left you a message of 0:03 on Monday, 07 December 2026 at 04:33.\nThe recording is attached.');
  t.is(mail.parsed.attachments.length, 1);
  const [a] = mail.parsed.attachments;
  t.is(a!.filename, 'voicemail.wav');
  t.is(a!.contentType, 'audio/x-wav');
  t.true(a!.content.equals(recording), `the recording byte for byte (${a!.content.length} of ${recording.length} bytes)`);
}

skipWithoutOpenssl('a MiniVM e-mail handed to websms voicemail-mail reaches the mail server with the recording byte for byte and a proper To:; no copy of the recording stays', async (t) => {
  const s = await setupEmail(t);
  const recording = wav(3999, 440); // 8042 bytes: base64 ends with padding
  const id = await handOver(t, s, recording);

  const mail = await s.smtp.waitFor(() => true, 10_000);
  checkReceived(t, mail, recording);
  await sleep(300);
  t.is(s.smtp.mails.length, 1, 'sent once');

  // Once the mail server has it, websms keeps no copy of the recording: not the file, not inside the stored e-mail.
  const row = await until(() => { const r = voicemailRow(s, id); return r.state === 'sent' && r; }, 5000, 'the voicemail marked sent');
  t.deepEqual(savedRecordings(s), [], 'the saved recording is deleted');
  t.false(row.message.includes(recording.subarray(0, 54).toString('base64')), 'the stored e-mail no longer holds the recording');
  t.regex(row.message.toString('latin1'), /^To: bob@example\.org$/m, 'who it went to, and when, are still known');
  t.regex(row.message.toString('latin1'), /^Date: Mon, 07 Dec 2026 04:33:29 \+0100$/m);
});

skipWithoutOpenssl('with the mail server down the voicemail e-mail waits, its recording in websms\'s store, and goes once the server is up', async (t) => {
  const s = await setupEmail(t);
  await s.smtp.down();
  const recording = wav(12_001, 523);
  const id = await handOver(t, s, recording);

  const waiting = await until(() => s.outbox().find((r) => r.kind === 'voicemail' && r.attempts >= 1 && r.state === 'queued'), 10_000, 'a failed attempt');
  t.regex(waiting.reason, /cannot connect to the SMTP server 127\.0\.0\.1:\d+/);
  // MiniVM's copy is gone: websms's is the only one now, and it is whole.
  const saved = savedRecordings(s);
  t.is(saved.length, 1);
  t.true(fs.readFileSync(saved[0]!).equals(recording), 'websms holds the recording byte for byte');
  t.deepEqual((JSON.parse(waiting.attachments) as Array<{ path: string }>).map((a) => a.path), saved);
  t.is(voicemailRow(s, id).state, 'queued');
  // Retention does not touch an e-mail still waiting, however old.
  s.daemon.jobs.retain(Date.now() + 400 * DAY);
  t.deepEqual(savedRecordings(s), saved, 'kept while the e-mail waits');

  await s.smtp.up();
  const mail = await s.smtp.waitFor(() => true, 15_000);
  checkReceived(t, mail, recording);
  await until(() => voicemailRow(s, id).state === 'sent', 5000, 'the voicemail marked sent');
  t.deepEqual(savedRecordings(s), [], 'the saved recording is deleted once sent');
  t.is(s.smtp.mails.length, 1);
});

skipWithoutOpenssl('a voicemail e-mail the mail server refuses keeps its recording in websms\'s store until [general] retention removes it', async (t) => {
  const s = await setupEmail(t);
  s.smtp.failNext(1, 550, '5.1.1 No such user here');
  const recording = wav(2000, 660);
  const id = await handOver(t, s, recording);
  const row = await until(() => { const r = voicemailRow(s, id); return r.state === 'failed' && r; }, 10_000, 'the voicemail marked failed');
  t.regex(row.reason!, /550|No such user/);
  t.is(s.smtp.mails.length, 0);
  // The recording is kept: nobody received it, and MiniVM's copy is gone.
  const saved = savedRecordings(s);
  t.is(saved.length, 1);
  t.true(fs.readFileSync(saved[0]!).equals(recording));

  s.daemon.jobs.retain(Date.now() + 30 * DAY);
  t.deepEqual(savedRecordings(s), saved, 'kept within [general] retention (90 days)');
  s.daemon.jobs.retain(Date.now() + 91 * DAY);
  t.deepEqual(savedRecordings(s), [], 'removed with the e-mail\'s body after [general] retention');
  t.false(voicemailRow(s, id).message.includes(recording.subarray(0, 54).toString('base64')), 'and from the stored e-mail');
});
