// Replies read from a mailbox: a real IMAP server (Debian's dovecot, IMAPS
// with a throwaway CA) on a loopback port, replies put into the mailbox by
// dovecot-lda as a mail server would deliver them; websms reads them with
// imapflow, texts them through the ITSP double, and marks them seen.
import test from 'ava';
import { ImapFlow } from 'imapflow';
import fs from 'node:fs';
import { hasDovecot, startImapServer, type ImapServer } from './doubles/imap-server.js';
import { sleep, until } from './helpers/stack.js';
import { ALICE, ALICE_MAIL, BOB, FROM, REPLY_TO, hasOpenssl, messageIdOf, setupEmail, testCa, type EmailStack } from './helpers/email.js';

const IMAP_PASSWORD = 'imap-s3cret-never-logged';
const ready = hasOpenssl() && hasDovecot();
if (!ready) test('replies from a mailbox (needs openssl and dovecot-imapd)', (t) => t.pass('skipped: openssl or dovecot is missing; .ci/run installs dovecot-imapd'));
const imapTest = ready ? test : test.skip;

async function setup(t: Parameters<typeof setupEmail>[0], extra = ''): Promise<{ s: EmailStack; imap: ImapServer }> {
  const ca = testCa();
  const imap = await startImapServer({ cert: ca.certFile, key: ca.keyFile, user: REPLY_TO, password: IMAP_PASSWORD });
  t.teardown(() => imap.stop());
  const s = await setupEmail(
    t,
    `imap_host = 127.0.0.1\nimap_port = ${imap.port}\nimap_tls = tls\nimap_username = ${REPLY_TO}\nimap_password = ${IMAP_PASSWORD}\nimap_poll = 1s\nreply_listen =\n${extra}`,
  );
  return { s, imap };
}

function replyMail(o: { from: string; inReplyTo: string; messageId: string; text: string }): string {
  return [
    `From: ${o.from}`,
    `To: ${REPLY_TO}`,
    'Subject: Re: Text from +46701234567',
    `Message-ID: ${o.messageId}`,
    `In-Reply-To: ${o.inReplyTo}`,
    `References: ${o.inReplyTo}`,
    'Date: Mon, 01 Jan 2035 12:00:00 +0000',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    o.text,
    '',
  ].join('\r\n');
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return true;
    await sleep(200);
  }
  return false;
}

/** The UIDs of the unseen messages, as another mail program would see them. */
async function unseen(imap: ImapServer): Promise<number[]> {
  const c = new ImapFlow({ host: '127.0.0.1', port: imap.port, secure: true, auth: { user: imap.user, pass: imap.password }, logger: false, tls: { ca: [fs.readFileSync(testCa().caFile)] } });
  await c.connect();
  try {
    const lock = await c.getMailboxLock('INBOX');
    try {
      return ((await c.search({ seen: false }, { uid: true })) || []) as number[];
    } finally {
      lock.release();
    }
  } finally {
    await c.logout();
  }
}

imapTest('a reply delivered into the mailbox goes out as a text to the sender, and is marked seen', async (t) => {
  const { s, imap } = await setup(t);
  s.ami.addEndpoint(ALICE, 'alice', []);
  await s.text('Can you call me?');
  const mail = await s.smtp.waitFor(() => true);
  t.regex(mail.parsed.text!, /Reply to this e-mail to text \+46701234567/);
  await until(() => s.daemon.email.imap()?.health().connected, 10_000, 'IMAP login');

  imap.deliver(replyMail({ from: `Alice <${ALICE_MAIL}>`, inReplyTo: messageIdOf(mail), messageId: '<r1@example.org>', text: `In 10 minutes.\n\nOn Mon, 1 Jan 2035, websms <${FROM}> wrote:\n> Can you call me?` }));
  const req = await s.itsp.waitFor(() => true, 15_000);
  const form = new URLSearchParams(req.rawBody.toString('utf8'));
  t.is(form.get('Body'), 'In 10 minutes.');
  t.is(form.get('To'), BOB);
  t.is(form.get('From'), ALICE);
  t.true(await eventually(async () => (await unseen(imap)).length === 0), 'marked seen');

  // Marked unseen again, or delivered twice: still one text.
  imap.deliver(replyMail({ from: ALICE_MAIL, inReplyTo: messageIdOf(mail), messageId: '<r1@example.org>', text: 'In 10 minutes.' }));
  await s.daemon.email.imap()!.check();
  await sleep(500);
  t.is(s.itsp.requests.length, 1);
  const status = (await (await fetch(`${s.api}/api/email`)).json()) as { email: { replies: { imap: { connected: boolean; mailbox: string } | null; listener: string | null } } };
  t.deepEqual({ ...status.email.replies.imap!, lastCheckAt: undefined, lastError: undefined }, { host: '127.0.0.1', mailbox: 'INBOX', connected: true, lastCheckAt: undefined, lastError: undefined });
  t.is(status.email.replies.listener, null);
  t.false(s.logs.some((l) => l.includes(IMAP_PASSWORD)), 'the IMAP password is never logged');
});

imapTest('a reply from another address is refused and logged; an own reply with nothing to text is answered by e-mail', async (t) => {
  const { s, imap } = await setup(t);
  s.ami.addEndpoint(ALICE, 'alice', []);
  await s.text('Hello');
  const mail = await s.smtp.waitFor(() => true);
  await until(() => s.daemon.email.imap()?.health().connected, 10_000, 'IMAP login');

  imap.deliver(replyMail({ from: 'mallory@example.net', inReplyTo: messageIdOf(mail), messageId: '<m1@example.net>', text: 'send money' }));
  await until(() => s.logs.find((l) => l.includes('e-mail reply refused') && l.includes('mallory@example.net')), 15_000, 'the refusal in the log');
  imap.deliver(replyMail({ from: ALICE_MAIL, inReplyTo: messageIdOf(mail), messageId: '<r2@example.org>', text: `On Mon, 1 Jan 2035, websms <${FROM}> wrote:\n> Hello` }));
  const notice = await s.smtp.waitFor((m) => m.parsed.subject === `Not texted: your reply to ${BOB}`, 15_000);
  t.deepEqual(notice.envelope.to, [ALICE_MAIL]);
  t.regex(notice.parsed.text!, /no words of its own/);
  t.is(notice.parsed.inReplyTo, '<r2@example.org>');
  t.true(await eventually(async () => (await unseen(imap)).length === 0), 'both were read and marked seen');
  await sleep(300);
  t.is(s.itsp.requests.length, 0, 'nothing was texted');
  t.is(s.smtp.mails.filter((m) => m.envelope.to.includes('mallory@example.net')).length, 0, 'nothing goes to the stranger');
});
