// Texts by e-mail, end to end in a real daemon: a mail server that speaks
// SMTP on loopback (smtp-server, STARTTLS with a throwaway CA, a login),
// every e-mail parsed with mailparser; the AMI double as Asterisk, the ITSP
// double as the provider, the media double holding pictures; replies sent
// over SMTP to websms's own loopback listener.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { runAgi } from './doubles/agi-client.js';
import { pictureBytes } from './doubles/media-server.js';
import { loadConfig } from '../src/config/load.js';
import { startDaemon } from '../src/daemon.js';
import { createLogger } from '../src/log.js';
import { runCli } from './helpers/cli.js';
import { sleep, until } from './helpers/stack.js';
import { ALICE, ALICE_MAIL, BOB, FROM, REPLY_TO, SMTP_PASSWORD, SMTP_USER, hasOpenssl, messageIdOf, reply, setupEmail as setup } from './helpers/email.js';

const skipWithoutOpenssl = hasOpenssl() ? test : test.skip;


skipWithoutOpenssl('a text no phone takes is e-mailed after unreached_after, with its picture attached, and stays queued for the phone', async (t) => {
  const s = await setup(t);
  // Alice's endpoint exists but no phone is registered: the dialplan reports NO_CONTACTS.
  s.ami.addEndpoint(ALICE, 'alice', []);
  const picture = pictureBytes(3000, 7);
  s.media.set('/pic', { body: picture });
  const id = await s.text('Dinner at 6?', [{ url: `${s.media.url}/pic`, contentType: 'image/jpeg' }]);
  const received = s.daemon.store.get(id)!.received_at;

  const mail = await s.smtp.waitFor(() => true);
  t.true(mail.receivedAt - received >= 1000, `not before unreached_after (after ${mail.receivedAt - received} ms)`);
  t.true(mail.secure, 'over STARTTLS');
  t.is(mail.user, SMTP_USER, 'logged in');
  t.deepEqual(mail.envelope.to, [ALICE_MAIL]);
  const p = mail.parsed;
  t.is(p.from?.value[0]?.address, FROM);
  t.is(p.replyTo?.value[0]?.address, REPLY_TO);
  t.is(p.subject, `Text from ${BOB} (not on your phone yet)`);
  t.regex(p.text!, /^Dinner at 6\?\nPicture: https:\/\/sms\.example\.org\/media\/[A-Za-z0-9_-]{32}\.jpg\n/);
  t.regex(p.text!, /No phone has taken this text for 1 second\(s\) \(no registered phone\); it stays queued/);
  t.regex(p.text!, /Reply to this e-mail to text \+46701234567/);
  t.regex(p.messageId!, /^<[a-z2-7]{26}\.websms@pbx\.example\.org>$/);
  t.is(p.attachments.length, 1);
  t.is(p.attachments[0]!.contentType, 'image/jpeg');
  t.is(p.attachments[0]!.filename, 'picture-1.jpg');
  t.deepEqual(p.attachments[0]!.content, picture);

  // The text is not affected: it still waits for the phone, and gets there when one registers.
  // (Between attempts it waits; during one it is being delivered again.)
  t.true(['waiting', 'sending', 'queued'].includes(s.daemon.store.get(id)!.state), s.daemon.store.get(id)!.state);
  s.ami.register('alice', 'sip:alice@127.0.0.1:5062');
  const d = await s.ami.waitForDelivery((x) => x.body.toString('utf8').startsWith('Dinner at 6?'));
  t.truthy(d);
  await until(() => s.daemon.store.get(id)?.state === 'delivered');
  await sleep(1500);
  t.is(s.smtp.mails.length, 1, 'e-mailed once');
  const events = (await (await fetch(`${s.api}/api/texts/in-${id}`)).json()) as { events: { kind: string; detail: string }[] };
  t.true(events.events.some((e) => e.kind === 'emailed' && e.detail === `unreached e-mail sent to ${ALICE_MAIL}`), 'the text\'s history says it was e-mailed');
  t.false(s.logs.some((l) => l.includes(SMTP_PASSWORD)), 'the SMTP password is never logged');
  t.false(s.logs.some((l) => l.includes('Dinner at 6')), 'nor the body at debug level');
});

skipWithoutOpenssl('a text delivered in time is not e-mailed; one the dialplan gives up on is e-mailed at once', async (t) => {
  const s = await setup(t, 'unreached_after = 30s');
  s.ami.addEndpoint(ALICE, 'alice', ['sip:alice@127.0.0.1:5062']);
  const ok = await s.text('on time');
  await until(() => s.daemon.store.get(ok)?.state === 'delivered');
  // A number without an endpoint: the dialplan reports FAILED (no endpoint has this number).
  const lost = (await s.daemon.store.enqueue({ interface: 'itsp', providerId: undefined, sender: BOB, recipient: '+46812340000', body: 'nobody', parts: 1 })).id;
  s.daemon.deliverer.kick();
  await until(() => s.daemon.store.get(lost)?.state === 'undeliverable');
  t.is(s.smtp.mails.length, 0, 'a number without an address is not e-mailed');

  s.ami.addEndpoint(ALICE, 'alice', []);
  s.ami.onOriginate = () => ({ kind: 'status', status: 'FAILED' });
  const failing = await s.text('phones refuse it');
  await until(() => s.daemon.store.get(failing)?.state === 'undeliverable');
  const mail = await s.smtp.waitFor(() => true, 5000);
  t.is(mail.parsed.subject, `Text from ${BOB} (not delivered to your phone)`);
  t.regex(mail.parsed.text!, /Your phones could not take this text/);
  await sleep(1200);
  t.is(s.smtp.mails.length, 1);
});

skipWithoutOpenssl('copy = all: every text to and from the user is copied by e-mail, in one thread per conversation', async (t) => {
  const s = await setup(t, 'copy = all\nunreached_after = off');
  s.ami.addEndpoint(ALICE, 'alice', ['sip:alice@127.0.0.1:5062']);
  const id = await s.text('first');
  await until(() => s.daemon.store.get(id)?.state === 'delivered');
  const first = await s.smtp.waitFor((m) => m.parsed.subject === `Text from ${BOB}`);
  t.regex(first.parsed.text!, /^first\n\n-- \nFrom \+46701234567 to your number \+46812345678/);
  t.is(first.parsed.inReplyTo, undefined);

  const handoff = await runAgi({
    port: s.daemon.agiPort,
    exten: BOB,
    variables: { 'MESSAGE(body)': 'my answer', 'MESSAGE(from)': `"Alice" <sip:${ALICE}@pbx.example>`, 'MESSAGE(to)': `pjsip:${BOB}@pbx.example`, WEBSMS_INDEX: '' },
  });
  t.is(handoff.set.get('WEBSMS_STATUS'), 'QUEUED');
  const sent = await s.smtp.waitFor((m) => m.parsed.subject === `Text to ${BOB}`);
  t.regex(sent.parsed.text!, /^my answer\n\n-- \nYou texted \+46701234567 from your number \+46812345678/);
  t.is(sent.parsed.inReplyTo, messageIdOf(first), 'threaded under the earlier e-mail of the conversation');
  t.is(sent.parsed.references, messageIdOf(first));
  await s.itsp.waitForRequests(1);
});

skipWithoutOpenssl('a text the user sent that finally fails is e-mailed to the user', async (t) => {
  const s = await setup(t, 'unreached_after = off');
  s.itsp.setDefault({ status: 400, body: { message: 'The number is not a valid mobile number', code: 21614 } });
  s.ami.addEndpoint(ALICE, 'alice', ['sip:alice@127.0.0.1:5062']);
  await runAgi({
    port: s.daemon.agiPort,
    exten: BOB,
    variables: { 'MESSAGE(body)': 'will not arrive', 'MESSAGE(from)': `"Alice" <sip:${ALICE}@pbx.example>`, 'MESSAGE(to)': `pjsip:${BOB}@pbx.example`, WEBSMS_INDEX: '' },
  });
  const mail = await s.smtp.waitFor((m) => m.parsed.subject === `Not sent: your text to ${BOB}`);
  t.regex(mail.parsed.text!, /^Your text to \+46701234567, written .* UTC, was not sent: it failed \(.+\)\.\n\n> will not arrive\n/);
  // The phone is told too, as before ([outbound] notify = failures).
  await s.ami.waitForDelivery((d) => d.body.toString('utf8').startsWith(`Not sent to ${BOB}`));
});

skipWithoutOpenssl('the SMTP server is down: the e-mail waits and is tried again; the text is not affected', async (t) => {
  const s = await setup(t, 'copy = received\nunreached_after = off');
  await s.smtp.down();
  s.ami.addEndpoint(ALICE, 'alice', ['sip:alice@127.0.0.1:5062']);
  const id = await s.text('while the mail server is down');
  await until(() => s.daemon.store.get(id)?.state === 'delivered', 10_000, 'the text delivered');
  const row = await until(() => s.outbox().find((r) => r.attempts >= 1 && r.state === 'queued'), 10_000, 'a failed attempt');
  t.regex(row.reason, /cannot connect to the SMTP server 127\.0\.0\.1:\d+/);
  const status = (await (await fetch(`${s.api}/api/email`)).json()) as { email: { outbox: { queued: number }; lastError: { reason: string } | null; pausedUntil: string | null } };
  t.is(status.email.outbox.queued, 1);
  t.regex(status.email.lastError!.reason, /cannot connect/);
  const metrics = await (await fetch(`${s.api}/metrics`)).text();
  t.regex(metrics, /websms_email_outbox\{state="queued"\} 1/);
  t.regex(metrics, /websms_emails_total\{kind="copy",outcome="retry"\} [1-9]/);

  await s.smtp.up();
  const mail = await s.smtp.waitFor(() => true, 10_000);
  t.is(mail.parsed.subject, `Text from ${BOB}`);
  await until(() => s.outbox()[0]?.state === 'sent');
  t.is(s.outbox().length, 1);
  t.is(s.smtp.mails.length, 1);
  t.is(s.daemon.store.get(id)!.state, 'delivered', 'the text went its way all along');
});

skipWithoutOpenssl('a refused e-mail (550) fails without retries; a temporary one (451) is tried again', async (t) => {
  const s = await setup(t, 'copy = received\nunreached_after = off');
  s.ami.addEndpoint(ALICE, 'alice', ['sip:alice@127.0.0.1:5062']);
  s.smtp.failNext(1, 451, '4.7.1 Try again later');
  await s.text('one');
  await s.smtp.waitFor(() => true, 10_000);
  t.is(s.outbox()[0]!.attempts, 2);
  s.smtp.failNext(1, 550, '5.1.1 No such user here');
  await s.text('two');
  const row = await until(() => s.outbox().find((r) => r.state === 'failed'), 10_000, 'a failed e-mail');
  t.regex(row.reason, /550|No such user/);
  t.is(row.attempts, 1);
});

skipWithoutOpenssl('a reply to the e-mail, over the loopback SMTP listener, goes out as a text to the sender through the ITSP', async (t) => {
  const s = await setup(t);
  s.ami.addEndpoint(ALICE, 'alice', []);
  await s.text('Are you coming?');
  const mail = await s.smtp.waitFor(() => true);
  const answer = await reply(s.replies, {
    from: `Alice <${ALICE_MAIL}>`,
    inReplyTo: messageIdOf(mail),
    references: messageIdOf(mail),
    text: `Yes, at 6!\n\nAlice\n-- \nAlice Example, +46 8 123 456 78\n\nOn Mon, 1 Jan 2025 at 12:00, websms <${FROM}> wrote:\n> Are you coming?\n> \n> -- \n> From ${BOB}`,
  });
  t.regex(answer.response, /^250 2\.0\.0 queued as text out-\d+ to \+46701234567/);
  const req = await s.itsp.waitFor(() => true);
  const form = new URLSearchParams(req.rawBody.toString('utf8'));
  t.is(form.get('Body'), 'Yes, at 6!\n\nAlice');
  t.is(form.get('To'), BOB);
  t.is(form.get('From'), ALICE);
  const outId = Number(/out-(\d+)/.exec(answer.response)![1]);
  const text = (await (await fetch(`${s.api}/api/texts/out-${outId}`)).json()) as { text: { state: string }; events: { kind: string; detail: string }[] };
  t.true(text.events.some((e) => e.kind === 'email_reply' && e.detail === `from an e-mail reply by ${ALICE_MAIL}`));

  // The same reply again (the mail server delivers it twice): one text.
  const again = await reply(s.replies, { from: ALICE_MAIL, inReplyTo: messageIdOf(mail), text: 'Yes, at 6!', headers: { 'Message-ID': answer.messageId } });
  t.regex(again.response, /^250 2\.0\.0 this reply was taken before/);
  await sleep(300);
  t.is(s.itsp.requests.length, 1);

  // An out-of-office answer is dropped.
  const auto = await reply(s.replies, { from: ALICE_MAIL, inReplyTo: messageIdOf(mail), text: 'I am away until Monday.', headers: { 'Auto-Submitted': 'auto-replied' } });
  t.regex(auto.response, /^250 2\.0\.0 an automatic reply/);
  await sleep(300);
  t.is(s.itsp.requests.length, 1);
  const metrics = await (await fetch(`${s.api}/metrics`)).text();
  t.regex(metrics, /websms_email_replies_total\{outcome="queued"\} 1/);
});

skipWithoutOpenssl('a reply not from the configured address is refused, and the log says so; so is one that answers nothing', async (t) => {
  const s = await setup(t);
  s.ami.addEndpoint(ALICE, 'alice', []);
  await s.text('Hello');
  const mail = await s.smtp.waitFor(() => true);
  const err = await reply(s.replies, { from: 'mallory@example.net', inReplyTo: messageIdOf(mail), text: 'send money' }).then(
    () => undefined,
    (e: { responseCode?: number; response?: string }) => e,
  );
  t.is(err?.responseCode, 550);
  t.regex(err?.response ?? '', /5\.7\.1 not texted: it is from mallory@example\.net, not from alice@example\.org/);
  t.true(s.logs.some((l) => l.includes('e-mail reply refused') && l.includes('mallory@example.net')), 'the refusal is logged, with the sender');
  t.false(s.logs.some((l) => l.includes('send money')), 'without the body');

  const orphan = await reply(s.replies, { from: ALICE_MAIL, inReplyTo: '<nothing.we.sent@example.org>', text: 'hello?' }).catch((e: { responseCode?: number; response?: string }) => e);
  t.is((orphan as { responseCode?: number }).responseCode, 550);
  t.regex((orphan as { response?: string }).response ?? '', /not a reply to an e-mail from websms/);

  // A stranger's recipient is not taken at all.
  const elsewhere = await reply(s.replies, { from: ALICE_MAIL, to: 'postmaster@pbx.example.org', inReplyTo: messageIdOf(mail), text: 'x' }).catch((e: { responseCode?: number }) => e);
  t.is((elsewhere as { responseCode?: number }).responseCode, 550);

  await sleep(300);
  t.is(s.itsp.requests.length, 0, 'nothing was sent');
  const db = new Database(path.join(s.dir, 'var', 'websms.db'), { readonly: true });
  t.is((db.prepare('SELECT COUNT(*) AS n FROM outbound').get() as { n: number }).n, 0);
  db.close();
});

skipWithoutOpenssl('a reply the checks refuse is bounced with the reason; the subaddress token maps a reply without In-Reply-To', async (t) => {
  const s = await setup(t, 'reply_subaddress = yes', { itsp: 'charset = gsm' });
  s.ami.addEndpoint(ALICE, 'alice', []);
  await s.text('Hi');
  const mail = await s.smtp.waitFor(() => true);
  const replyTo = mail.parsed.replyTo!.value[0]!.address!;
  t.regex(replyTo, /^sms-reply\+[a-z2-7]{26}@pbx\.example\.org$/);
  const bad = await reply(s.replies, { from: ALICE_MAIL, to: replyTo, text: 'Smile 😀' }).catch((e: { responseCode?: number; response?: string }) => e);
  t.is((bad as { responseCode?: number }).responseCode, 550);
  t.regex((bad as { response?: string }).response ?? '', /cannot be texted to \+46701234567: .*GSM/);
  const ok = await reply(s.replies, { from: ALICE_MAIL, to: replyTo, text: 'Smile' });
  t.regex(ok.response, /^250/);
  const req = await s.itsp.waitFor(() => true);
  t.is(new URLSearchParams(req.rawBody.toString('utf8')).get('Body'), 'Smile');
});

skipWithoutOpenssl('doctor logs in to the SMTP server without sending, names the reply listener and the outbox; a wrong password is a failure', async (t) => {
  const s = await setup(t);
  const file = path.join(s.dir, 'websms.conf');
  const env = { WEBSMS_API_URL: s.api };
  const ok = await runCli(['--config', file, 'doctor', '--json', '--timeout', '5'], { env });
  const body = JSON.parse(ok.stdout) as { checks: { check: string; status: string; detail: string }[] };
  const mail = body.checks.filter((c) => c.check.startsWith('e-mail'));
  t.deepEqual(mail.map((c) => [c.check, c.status]), [['e-mail', 'ok'], ['e-mail SMTP', 'ok'], ['e-mail outbox', 'ok'], ['e-mail replies', 'ok']], JSON.stringify(mail));
  t.regex(mail[1]!.detail, /127\.0\.0\.1:\d+ answers, TLS verified, login accepted \(nothing was sent\)/);
  t.is(s.smtp.mails.length, 0, 'nothing was sent');
  t.regex(mail[3]!.detail, /the reply listener answers on 127\.0\.0\.1:\d+/);

  const wrong = await runCli(['--config', file, 'doctor', '--timeout', '5'], { env: { ...env, WEBSMS_EMAIL_SMTP_PASSWORD: 'not-the-password' } });
  t.regex(wrong.stdout, /^ {2}fail {2}e-mail SMTP: the SMTP server 127\.0\.0\.1:\d+ refused the login of websms@pbx\.example\.org: .*535/m);
  t.false(wrong.stdout.includes('not-the-password') || wrong.stdout.includes(SMTP_PASSWORD), 'no password in the output');
  t.is(wrong.code, 1);

  // websms email: from the daemon, or from the database when it does not answer.
  s.ami.addEndpoint(ALICE, 'alice', []);
  await s.text('for the outbox');
  await s.smtp.waitFor(() => true);
  const shown = await runCli(['--config', file, 'email'], { env });
  t.is(shown.code, 0, shown.stderr);
  t.regex(shown.stdout, /^Users: +\+46812345678 -> alice@example\.org$/m);
  t.regex(shown.stdout, /^Replies: +SMTP listener on 127\.0\.0\.1:\d+$/m);
  t.regex(shown.stdout, /^Outbox: +0 waiting, 0 sending, 1 sent, 0 given up$/m);
  t.regex(shown.stdout, /^1 +unreached +sent +1 +in-1 +alice@example\.org/m);
  const offline = await runCli(['--config', file, 'email', '--json'], { env: { WEBSMS_API_URL: 'http://127.0.0.1:9' } });
  t.is(offline.code, 0, offline.stderr);
  t.regex(offline.stderr, /read .*websms\.db directly instead/);
  const j = JSON.parse(offline.stdout) as { from: string; email: { outbox: { sent: number }; smtp: { login: boolean } } };
  t.is(j.from, 'db');
  t.is(j.email.outbox.sent, 1);
  t.true(j.email.smtp.login);
  t.false(offline.stdout.includes(SMTP_PASSWORD));
});

skipWithoutOpenssl('an e-mail waiting in the outbox survives a restart, and is sent once the server is back', async (t) => {
  const s = await setup(t, 'copy = received\nunreached_after = off\nretry_min = 1h\nretry_max = 1h');
  await s.smtp.down();
  s.ami.addEndpoint(ALICE, 'alice', ['sip:alice@127.0.0.1:5062']);
  const id = await s.text('across a restart');
  await until(() => s.outbox().find((r) => r.attempts >= 1 && r.state === 'queued'), 10_000, 'a failed attempt');
  await s.daemon.stop();
  await s.smtp.up();
  // The next start tries at once (the pause was the old process's), then the outbox is empty.
  const config = loadConfig({ file: path.join(s.dir, 'websms.conf'), env: {}, explicit: true });
  const logs: string[] = [];
  const again = await startDaemon(config, createLogger('debug', {}, (l) => logs.push(l)));
  t.teardown(() => again.stop());
  await s.smtp.waitFor(() => true, 10_000);
  await until(() => s.outbox()[0]?.state === 'sent');
  t.is(s.smtp.mails.length, 1);
  t.is(s.outbox().length, 1, 'not queued again by the new process');
  t.is(again.store.get(id)!.state, 'delivered');
});

skipWithoutOpenssl('a reload with the right SMTP port sends what waits at once, without a restart', async (t) => {
  const s = await setup(t, 'copy = received\nunreached_after = off\nretry_min = 1h\nretry_max = 1h\nsmtp_port = 9');
  s.ami.addEndpoint(ALICE, 'alice', ['sip:alice@127.0.0.1:5062']);
  await s.text('before the fix');
  await until(() => s.outbox().find((r) => r.attempts >= 1 && r.state === 'queued'), 10_000, 'a failed attempt');
  const file = path.join(s.dir, 'websms.conf');
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/^smtp_port = 9$/m, `smtp_port = ${s.smtp.port}`));
  const plan = await s.daemon.reload(loadConfig({ file, env: {}, explicit: true }));
  t.true(plan.applied.includes('[email] smtp_*'), plan.applied.join(', '));
  const mail = await s.smtp.waitFor(() => true, 10_000);
  t.is(mail.parsed.subject, `Text from ${BOB}`);
  t.true(s.logs.some((l) => l.includes('SMTP settings changed: e-mails waiting are tried again now')));
});
