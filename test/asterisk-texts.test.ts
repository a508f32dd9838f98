// Texts through a real Asterisk 22: the project's dialplan installed as
// `websms dialplan install` installs it, phones that speak SIP over UDP,
// websms as a child process, the ITSP double. Needs a runnable Asterisk
// (test/helpers/asterisk-build.ts says where it looks); without one the whole
// tier is one skipped test that says why.
import test from 'ava';
import fs from 'node:fs';
import { SHIPPED_DIALPLAN_DIR } from '../src/dialplan/install.js';
import { startSipUa, type SipUa } from './doubles/sip-ua.js';
import { findAsterisk } from './helpers/asterisk-build.js';
import { EXTERNAL, startPbxStack, type PbxStack } from './helpers/asterisk-stack.js';
import { sleep, until } from './helpers/stack.js';

const found = findAsterisk();
// One Asterisk and one websms at a time: six starting at once on two cores
// slowed the timing-sensitive tests of the files running beside this one.

/** Texts whose bytes an encoding layer could lose: separators, quotes, escapes, multibyte characters. */
const HARD_TEXTS = [
  'line one\nline two\n\nline four',
  'Hi :) see you at 10:30, ok?',
  'She said "yes", then \'no\'; a,b,c',
  'C:\\path\\to\\file and \\n is not a newline, \\\\ two',
  '100% sure: %41 is not A, %% neither, ${EXTEN} nor $[1+1]',
  'emoji 😀👍🏽 ❤️ 🇸🇪 and ÅÄÖ',
  '  spaces around  ',
];

/** 1,500 characters (code points) with multibyte ones spread through: longer than one SIP message (part_bytes 1000). */
const LONG_TEXT = Array.from({ length: 1500 }, (_, i) => (i % 100 === 99 ? '😀' : i % 10 === 9 ? '\n' : 'abcdefghi:'[i % 10]!)).join('');

/** A long text reaches the phone as several messages "(k/n) <piece>": the pieces joined give the text. */
function joined(bodies: string[]): string[] {
  const whole: string[] = [];
  const parts = new Map<number, string[]>();
  for (const b of bodies) {
    const m = /^\((\d+)\/(\d+)\) /s.exec(b);
    if (!m) {
      whole.push(b);
      continue;
    }
    const n = Number(m[2]);
    const list = parts.get(n) ?? [];
    list[Number(m[1]) - 1] = b.slice(m[0].length);
    parts.set(n, list);
  }
  for (const list of parts.values()) whole.push(list.join(''));
  return whole.sort();
}

const bodies = (p: SipUa): string[] => p.received.map((r) => r.body.toString('utf8'));

/** A form the ITSP double recorded, as sent. */
const form = (raw: Buffer): URLSearchParams => new URLSearchParams(raw.toString('utf8'));

if (!found.build) {
  test.skip(`Asterisk tier skipped: ${found.reason}`, () => {});
} else {
  const build = found.build;

  test.serial('an ITSP webhook reaches both phones of the number byte-exact, and no other phone', async (t) => {
    t.log(`Asterisk: ${build.source}`);
    const s = await startPbxStack(t, build);
    // Trailing newlines too: only a phone's own MESSAGE loses them (see the CR/LF test below).
    const texts = [...HARD_TEXTS, LONG_TEXT, 'ends with a newline\n', '\r\nCRLF at both ends\r\n'];
    for (const [i, text] of texts.entries()) t.is(await s.webhook(s.alice.number, text, `in-${i}`), 200);
    const messages = texts.length + 1; // the long text is two SIP messages
    for (const phone of s.alice.phones) {
      await phone.waitForTexts(messages, 20_000);
      t.deepEqual(joined(bodies(phone)), [...texts].sort(), `${phone.contact} got every text byte for byte`);
      t.true(phone.received.every((r) => r.fromUser === EXTERNAL), 'from the sender\'s number');
    }
    await until(() => s.inbound().every((r) => r.state === 'delivered'), 10_000, 'every text reported delivered');
    await sleep(300);
    t.is(s.alice.phones[0].received.length, messages, 'each message once');
    t.is(s.alice.phones[1].received.length, messages, 'each message once');
    t.deepEqual([...bodies(s.bob.phones[0]), ...bodies(s.bob.phones[1])], [], 'the other user got nothing');
  });

  test.serial('a text for a number whose phones are all unregistered waits, and is delivered when one registers', async (t) => {
    const s = await startPbxStack(t, build);
    for (const p of s.bob.phones) t.is(await p.unregister(), 200);
    t.is(await s.webhook(s.bob.number, 'waited for you :)', 'wait-1'), 200);
    await until(() => s.inbound()[0]?.state === 'waiting', 10_000, 'the text waiting for a phone');
    await sleep(500);
    t.deepEqual([...bodies(s.bob.phones[0]), ...bodies(s.bob.phones[1])], [], 'nothing delivered while unregistered');

    t.is(await s.bob.phones[1].register(), 200);
    await s.bob.phones[1].waitForTexts(1, 15_000);
    t.deepEqual(bodies(s.bob.phones[1]), ['waited for you :)']);
    await until(() => s.inbound()[0]?.state === 'delivered', 10_000, 'reported delivered');
    t.deepEqual(bodies(s.bob.phones[0]), [], 'the phone still unregistered got nothing');
  });

  test.serial('a text from a phone to an external number reaches the ITSP byte-exact with both numbers', async (t) => {
    const s = await startPbxStack(t, build);
    // Incoming MESSAGEs run through the dialplan one at a time: send them in order.
    for (const text of HARD_TEXTS) t.is(await s.alice.phones[0].sendMessage(EXTERNAL, text), 202);
    const requests = await s.itsp.waitForRequests(HARD_TEXTS.length, 20_000);
    const sent = requests.map((r) => form(r.rawBody));
    t.deepEqual(sent.map((f) => f.get('Body')).sort(), [...HARD_TEXTS].sort());
    t.true(sent.every((f) => f.get('To') === EXTERNAL && f.get('From') === s.alice.number), 'to the number texted, from the sender\'s number');
  });

  test.serial("a phone's trailing CR/LF is gone before the dialplan runs (res_pjsip_messaging trims the body)", async (t) => {
    const s = await startPbxStack(t, build);
    t.is(await s.alice.phones[0].sendMessage(EXTERNAL, 'ends with CRLF\r\n'), 202);
    t.is(await s.alice.phones[0].sendMessage(EXTERNAL, 'ends with LFs\n\n'), 202);
    t.is(await s.alice.phones[0].sendMessage(EXTERNAL, '\r\nstarts with CRLF'), 202);
    const requests = await s.itsp.waitForRequests(3, 20_000);
    t.deepEqual(requests.map((r) => form(r.rawBody).get('Body')).sort(), ['\r\nstarts with CRLF', 'ends with CRLF', 'ends with LFs'].sort());
  });

  test.serial('with websms stopped, the sender receives the failure notice on each of its phones', async (t) => {
    const s = await startPbxStack(t, build);
    await s.stopWebsms('SIGTERM');
    t.is(await s.alice.phones[0].sendMessage(EXTERNAL, 'is anybody there?'), 202);
    const notice = `Your message to ${EXTERNAL} was not sent: the SMS gateway is not reachable`;
    for (const phone of s.alice.phones) {
      const [got] = await phone.waitForTexts(1, 15_000);
      t.is(got!.body.toString('utf8'), notice);
      t.is(got!.fromUser, EXTERNAL, 'shown in the conversation with the number texted');
    }
    t.is(s.itsp.requests.length, 0);
    t.deepEqual([...bodies(s.bob.phones[0]), ...bodies(s.bob.phones[1])], []);
  });

  test.serial('WEBSMS_INDEX: the shipped templates set it, a user\'s own wins, an endpoint without it logs "Unknown property"', async (t) => {
    const s = await startPbxStack(t, build, {
      users: [
        { endpoint: 'carol', number: '+46703333333', password: 'carol-Passw0rd', index: '2' },
        { endpoint: 'legacy', number: '+46704444444', password: 'legacy-Passw0rd', legacy: true },
      ],
    });
    const index = async (endpoint: string): Promise<string> =>
      /Result: (.*)/.exec(await s.pbx.cli(`dialplan eval function PJSIP_ENDPOINT(${endpoint},WEBSMS_INDEX)`))?.[1]?.trim() ?? '?';
    t.is(await index('alice'), '', 'a user of w_term_io: empty (websms\'s default interface)');
    t.is(await index('carol'), '2', 'its own set_var after the template\'s');

    t.is(await s.alice.phones[0].sendMessage(EXTERNAL, 'from a fresh install'), 202);
    await s.itsp.waitForRequests(1, 15_000);
    t.notRegex(s.pbx.log(), /Unknown property 'WEBSMS_INDEX'/, 'no warning for a user of the shipped templates');

    const phone = await startSipUa({ server: { host: '127.0.0.1', port: s.pbx.sipPort }, user: 'legacy', password: 'legacy-Passw0rd' });
    t.teardown(() => phone.close());
    t.is(await phone.register(), 200);
    t.is(await phone.sendMessage(EXTERNAL, 'from an old endpoint'), 202);
    const [, second] = await s.itsp.waitForRequests(2, 15_000);
    t.is(form(second!.rawBody).get('From'), '+46704444444', 'still sent, by the default interface');
    t.regex(s.pbx.log(), /WARNING.*Unknown property 'WEBSMS_INDEX' for PJSIP endpoint/);
  });

  // The dialplan remembers delivered texts in AstDB (sub_text_term): without
  // that, texts in flight at the SIGKILL would be shown again after the restart.
  test.serial('SIGKILL of websms during a burst of inbound texts, then restart: each phone receives each text exactly once', async (t) => {
    const s = await startPbxStack(t, build);
    const texts = Array.from({ length: 60 }, (_, i) => `burst ${i} :)`);
    const posts = texts.map(async (text, i) => {
      try {
        return (await s.webhook(s.bob.number, text, `burst-${i}`)) === 200 ? text : undefined;
      } catch {
        return undefined; // websms was gone before it answered: not accepted, not expected
      }
    });
    // Kill as the first texts reach the phones: the rest of the burst is being originated.
    await until(() => s.bob.phones[0].received.length >= 3, 20_000, 'the burst reaching the phones');
    await s.stopWebsms('SIGKILL');
    const acked = (await Promise.all(posts)).filter((x) => x !== undefined);
    await s.startWebsms();
    await until(() => s.inbound().length >= acked.length && s.inbound().every((r) => r.state === 'delivered'), 30_000, 'every text delivered after the restart');
    await sleep(1000);
    for (const phone of s.bob.phones) {
      const counts = new Map<string, number>();
      for (const b of bodies(phone)) counts.set(b, (counts.get(b) ?? 0) + 1);
      t.deepEqual([...counts].filter(([, c]) => c > 1), [], `${phone.contact}: no text twice`);
      t.deepEqual(acked.filter((a) => !counts.has(a)), [], `${phone.contact}: every accepted text`);
      // A text committed just before the kill whose 2xx never left is delivered too: the ITSP would send it again.
      t.true([...counts.keys()].every((b) => texts.includes(b)), 'nothing else');
    }
  });
}
