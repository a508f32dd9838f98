// [email] as websms.conf spells it: users, the SMTP server from PrivateDial's
// minivm.conf, the rules that keep mail encrypted and the reply listener
// local, secrets from the environment; and the pure parts of replies: the
// words kept from a reply, the tokens that map it.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../src/config/load.js';
import { readMinivm, shellWords } from '../src/config/minivm.js';
import { ConfigError } from '../src/errors.js';
import { newToken, tokenOfAddress, tokenOfMessageId } from '../src/email/compose.js';
import { isReplyAddress } from '../src/email/listener.js';
import { replyText } from '../src/email/reply-body.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

function write(dir: string, name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

function load(text: string, env: NodeJS.ProcessEnv = {}, dir = tempDir()) {
  return loadConfig({ file: write(dir, 'websms.conf', text), env, explicit: true });
}

function problems(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    load(text, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

const MINIVM = `; minivm.conf as PrivateDial's documentation has it
[general]
mailcmd = minivm-send -H mx.example.com:587 -P starttls -u username -p "minivm-pa ss" -f voicemail-noreply@example.com
format = wav49

[template-en_US_email]
fromemail = voicemail-noreply@example.com
subject = Voicemail from \${MVM_CALLERID}
`;

test('users: a number in E.164 and an address each; without a user nothing else is needed', (t) => {
  const none = load('[email]\n');
  t.deepEqual(none.email.users, []);
  const c = load('[email]\nuser = +12025550160 John.Doe@Example.COM\nuser = +12025550183, jane@example.com\nsmtp_host = mail.example.org\nfrom = sms@example.org\n');
  t.deepEqual(c.email.users, [
    { number: '+12025550160', address: 'John.Doe@example.com' },
    { number: '+12025550183', address: 'jane@example.com' },
  ]);
  t.deepEqual(c.email.smtp, { host: 'mail.example.org', port: 587, tls: 'starttls', username: '', password: '', timeoutMs: 30_000 });
  const p = problems('[email]\nuser = 0701234567 john@example.com\nuser = +12025550160 not-an-address\nuser = +12025550160\n');
  t.is(p.length, 3, p.join('\n'));
  t.regex(p[0]!, /:2: \[email\] user: "0701234567" is not a number in E\.164 with "\+"/);
  t.regex(p[1]!, /:3: \[email\] user: "not-an-address" is not an e-mail address/);
  t.regex(p[2]!, /:4: \[email\] user: "\+12025550160" is not "<number> <address>"/);
  t.regex(problems('[email]\nuser = +12025550160 a@example.com\nuser = +12025550160 b@example.com\nsmtp_host = m.example.org\nfrom = s@example.org\n')[0]!, /:3: \[email\] user: \+12025550160 is given more than once \(first on line 2\)/);
});

test('the SMTP server comes from minivm.conf when smtp_host is not set; what [email] says wins; check-config names the source, never the password', async (t) => {
  const dir = tempDir();
  const minivm = write(dir, 'minivm.conf', MINIVM);
  const c = load(`[email]\nuser = +12025550160 john@example.com\nminivm = ${minivm}\n`, {}, dir);
  t.deepEqual(c.email.smtp, { host: 'mx.example.com', port: 587, tls: 'starttls', username: 'username', password: 'minivm-pa ss', timeoutMs: 30_000 });
  t.is(c.email.from, 'voicemail-noreply@example.com');
  const keys = c.settings!.find((s) => s.name === 'email')!.keys;
  t.deepEqual(keys.smtp_host, { value: 'mx.example.com', source: 'minivm', from: `${minivm} line 3, mailcmd -H` });
  t.deepEqual(keys.smtp_password, { value: '(set)', source: 'minivm', from: `${minivm} line 3, mailcmd -p` });

  // The file's own keys and the environment win, key by key.
  const own = load(`[email]\nuser = +12025550160 john@example.com\nminivm = ${minivm}\nfrom = sms@example.org\nsmtp_tls = tls\n`, { WEBSMS_EMAIL_SMTP_PASSWORD: 'from-env' }, dir);
  t.deepEqual(own.email.smtp, { host: 'mx.example.com', port: 587, tls: 'tls', username: 'username', password: 'from-env', timeoutMs: 30_000 });
  t.is(own.email.from, 'sms@example.org');
  // smtp_host set: minivm.conf is not read at all.
  const apart = load(`[email]\nuser = +12025550160 john@example.com\nminivm = /nonexistent/minivm.conf\nsmtp_host = mail.example.org\nsmtp_tls = tls\nfrom = sms@example.org\n`);
  t.deepEqual(apart.email.smtp, { host: 'mail.example.org', port: 465, tls: 'tls', username: '', password: '', timeoutMs: 30_000 });

  const cc = write(dir, 'websms.conf', `[email]\nuser = +12025550160 john@example.com\nminivm = ${minivm}\n`);
  const r = await runCli(['--config', cc, 'check-config']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, new RegExp(`smtp_host = mx\\.example\\.com\\s+; from ${minivm.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} line 3, mailcmd -H`));
  t.regex(r.stdout, /smtp_password = \(set\)\s+; from .* mailcmd -p/);
  t.false(r.stdout.includes('minivm-pa ss'));
  const j = await runCli(['--config', cc, 'check-config', '--json']);
  t.is(JSON.parse(j.stdout).sources.email.smtp_host, 'minivm');
});

test('minivm.conf: sendmail is this host\'s mail server; a command websms cannot read, or no file, is a problem naming the keys to set', (t) => {
  const dir = tempDir();
  const sendmail = write(dir, 'sendmail.conf', '[general]\nmailcmd = /usr/sbin/sendmail -t\n[template-en_US_email]\nfromemail = vm@example.com\n');
  const c = load(`[email]\nuser = +12025550160 john@example.com\nminivm = ${sendmail}\n`, {}, dir);
  t.deepEqual(c.email.smtp, { host: '127.0.0.1', port: 25, tls: 'none', username: '', password: '', timeoutMs: 30_000 });
  t.is(c.email.from, 'vm@example.com');

  const msmtp = write(dir, 'msmtp.conf', '[general]\nmailcmd = /usr/bin/msmtp -t\n');
  const p = problems(`[email]\nuser = +12025550160 john@example.com\nfrom = s@example.org\nminivm = ${msmtp}\n`);
  t.is(p.length, 1, p.join('\n'));
  t.regex(p[0]!, /:2: \[email\] smtp_host is not set, and PrivateDial's minivm\.conf cannot supply it: .* mailcmd runs msmtp, whose SMTP settings websms cannot read .* set \[email\] smtp_host/);
  t.regex(problems('[email]\nuser = +12025550160 john@example.com\nminivm = /nonexistent/minivm.conf\n')[0]!, /cannot read \/nonexistent\/minivm\.conf: no such file/);
  // Plain SMTP from minivm.conf to another host is not taken over.
  const plain = write(dir, 'plain.conf', '[general]\nmailcmd = minivm-send -H mx.example.com:25 -P smtp -f vm@example.com\n');
  t.regex(problems(`[email]\nuser = +12025550160 john@example.com\nminivm = ${plain}\n`)[0]!, /smtp_tls = none \(.* -P\): e-mail goes without TLS only to a loopback address, not to mx\.example\.com/);

  const r = readMinivm(write(dir, 'm.conf', '[general]\nmailcmd = minivm-send -H [2001:db8::25] -P smtps -u u\n'));
  t.true(r.ok);
  if (r.ok) t.deepEqual(Object.fromEntries(Object.entries(r.values).map(([k, v]) => [k, v!.value])), { smtp_host: '2001:db8::25', smtp_port: '465', smtp_tls: 'tls', smtp_username: 'u' });
  t.deepEqual(shellWords(`a -p 'x y' -f "q\\"z" b\\ c`), ['a', '-p', 'x y', '-f', 'q"z', 'b c']);
});

test('mail stays encrypted and the reply listener local; a mailbox needs its password; secrets never in messages', (t) => {
  const base = '[email]\nuser = +12025550160 john@example.com\nfrom = sms@example.org\n';
  t.regex(problems(`${base}smtp_host = mail.example.org\nsmtp_tls = none\n`)[0]!, /smtp_tls = none: e-mail goes without TLS only to a loopback address, not to mail\.example\.org/);
  t.deepEqual(problems(`${base}smtp_host = 127.0.0.1\nsmtp_tls = none\n`), []);
  t.regex(problems(`${base}smtp_host = mail.example.org\nreply_listen = 0.0.0.0:2525\n`)[0]!, /reply_listen: 0\.0\.0\.0 is not a loopback address/);
  t.regex(problems(`${base}smtp_host = mail.example.org\nsmtp_username = u\n`)[0]!, /missing secret: \[email\] smtp_password \(or environment variable WEBSMS_EMAIL_SMTP_PASSWORD\)/);
  t.deepEqual(problems(`${base}smtp_host = mail.example.org\nsmtp_username = u\n`, { WEBSMS_EMAIL_SMTP_PASSWORD: 'pw' }), []);
  const imap = problems(`${base}smtp_host = mail.example.org\nimap_host = imap.example.org\nimap_username = u\n`);
  t.regex(imap[0]!, /missing secret: \[email\] imap_password \(or environment variable WEBSMS_EMAIL_IMAP_PASSWORD\)/);
  t.regex(problems('[email]\nreply_listen = 127.0.0.1:2525\n')[0]!, /replies are read .* but there is no \[email\] user/);
  t.regex(problems(`${base}smtp_host = mail.example.org\nretry_min = 1h\nretry_max = 1m\n`)[0]!, /retry_min must not be longer than retry_max/);
  const c = load(`${base}smtp_host = mail.example.org\nimap_host = imap.example.org\nimap_tls = starttls\nimap_username = u\n`, { WEBSMS_EMAIL_IMAP_PASSWORD: 'imap-secret-9' });
  t.is(c.email.imap.port, 143);
  t.is(c.email.imap.password, 'imap-secret-9');
  const p = problems(`${base}smtp_host = mail.example.org\nsmtp_password = pw-secret-7\n`);
  t.regex(p[0]!, /smtp_password is set but smtp_username is not/);
  t.false(p.join('\n').includes('pw-secret-7'));
});

test('a reply\'s own words: the quote, the attribution line, the signature and "sent from" lines go', (t) => {
  t.is(replyText('Yes!\n\nOn Mon, 1 Jan 2035 at 12:00, websms <sms@example.org> wrote:\n> Are you coming?\n'), 'Yes!');
  t.is(replyText('Fine\r\n\r\n-- \r\nJohn Doe\r\nExample Inc.\r\n'), 'Fine');
  t.is(replyText('See you\n\nSent from my iPhone\n\n> quoted'), 'See you');
  t.is(replyText('Ok\n\nOn Mon, 1 Jan 2035 at 12:00, websms <sms@example.org>\nwrote:\n> x'), 'Ok', 'an attribution wrapped over two lines');
  t.is(replyText('Ja\n\nDen 1 jan. 2035 kl. 12:00 skrev websms <sms@example.org>:\n> x'), 'Ja');
  t.is(replyText('Oui\n\nLe lun. 1 janv. 2035 à 12:00, websms <sms@example.org> a écrit :\n> x'), 'Oui');
  t.is(replyText('Top posted\n\n________________________________\nFrom: websms <sms@example.org>\nSent: Monday\nTo: john\n\nold'), 'Top posted');
  t.is(replyText('Ok\n\n-----Original Message-----\nFrom: x'), 'Ok');
  t.is(replyText('Answer in\n> between\nquotes\n'), 'Answer in\nquotes');
  t.is(replyText('\n\n  Keep\n\n\n\nthe middle  \n\n'), 'Keep\n\nthe middle');
  t.is(replyText('> only a quote\n'), '');
  t.is(replyText('From: me, to you: hello'), 'From: me, to you: hello', 'a line that only looks like a header stays');
});

test('tokens: 128 random bits in base32, found in our Message-IDs and in a Reply-To subaddress; the listener takes only the reply address', (t) => {
  const a = newToken();
  t.regex(a, /^[a-z2-7]{26}$/);
  t.not(a, newToken());
  t.is(tokenOfMessageId(`<${a}.websms@example.org>`), a);
  t.is(tokenOfMessageId(`<${a.toUpperCase()}.websms@example.org>`), a);
  t.is(tokenOfMessageId('<CAF=abc@mail.gmail.com>'), undefined);
  t.is(tokenOfAddress(`sms-reply+${a}@example.org`), a);
  t.is(tokenOfAddress('sms-reply@example.org'), undefined);
  const email = { replyTo: 'SMS-Reply@example.org', from: 'sms@example.org' };
  t.true(isReplyAddress('sms-reply@EXAMPLE.org', email));
  t.true(isReplyAddress(`sms-reply+${a}@example.org`, email));
  t.false(isReplyAddress('sms@example.org', email));
  t.false(isReplyAddress('sms-reply@example.org.evil.test', email));
  t.true(isReplyAddress('sms@example.org', { replyTo: '', from: 'sms@example.org' }));
});

test('the examples of docs/email.md load: a minivm.conf that sends with sendmail gives this host\'s mail server; the one websms ships hands voicemail to websms, so the server must be named', (t) => {
  const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
  const doc = fs.readFileSync(path.join(root, 'docs', 'email.md'), 'utf8');
  const blocks = [...doc.matchAll(/```ini\n([\s\S]*?)```/g)].map((m) => m[1]!);
  t.is(blocks.length, 2);
  // The first names no server: a PrivateDial minivm.conf that still sends with sendmail supplies it.
  const own = path.join(tempDir(), 'minivm.conf');
  fs.writeFileSync(own, '[general]\nmailcmd = /usr/sbin/sendmail -t\n[template-en_US_email]\nfromemail = voicemail-noreply@example.com\n');
  const first = load(`${blocks[0]!}minivm = ${own}\n`);
  t.deepEqual(first.email.smtp, { host: '127.0.0.1', port: 25, tls: 'none', username: '', password: '', timeoutMs: 30_000 });
  t.is(first.email.users.length, 2);
  // The suite's own minivm.conf runs `websms voicemail-mail`: nothing to reuse, and the error says what to set.
  const shipped = path.join(root, 'dialplan', 'minivm.conf');
  const err = t.throws(() => load(`${blocks[0]!}minivm = ${shipped}\n`));
  t.regex(err!.message, /mailcmd runs websms.*set \[email\] smtp_host/);
  const second = load(blocks[1]!, { WEBSMS_EMAIL_SMTP_PASSWORD: 'pw' });
  t.deepEqual(second.email.smtp, { host: 'mail.example.org', port: 587, tls: 'starttls', username: 'sms@example.org', password: 'pw', timeoutMs: 30_000 });
});
