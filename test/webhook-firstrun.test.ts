// Webhook details found by trying websms as a new user: Expect: 100-continue,
// bodies without a Content-Type, recipients that cannot be local numbers, and
// what a refusal or an unknown path writes to the log.
import test from 'ava';
import net from 'node:net';
import { startStack, rows, type Stack } from './helpers/stack.js';

const ALICE = '+46812345678';
const SENDER = '+46701234567';
const TOKEN = 'tok_abcdefghijklmnop1234';

let s: Stack;
test.before(async () => {
  s = await startStack({
    interfaces: `[default]\n\n[tokened]\ntoken = ${TOKEN}\n`,
    general: 'max_request_size = 2k\n',
  });
  s.ami.addEndpoint(ALICE, 'alice', ['sip:alice@127.0.0.1:5062']);
});
test.after.always(async () => {
  await s.stop();
});

/**
 * Sends the head of a request, then the body only if the server says
 * 100 Continue; resolves with everything the server sent before closing or
 * answering with a final status.
 */
function expectContinue(path: string, body: string, headers: Record<string, string> = {}): Promise<{ raw: string; continued: boolean; status: number }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(s.daemon.httpPort, '127.0.0.1');
    let raw = '';
    let continued = false;
    const head = {
      host: 'localhost',
      'content-type': 'application/x-www-form-urlencoded',
      'content-length': String(Buffer.byteLength(body)),
      expect: '100-continue',
      ...headers,
    };
    sock.on('connect', () => {
      sock.write(`POST ${path} HTTP/1.1\r\n${Object.entries(head).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
    });
    sock.setEncoding('utf8').on('data', (d: string) => {
      raw += d;
      if (!continued && raw.startsWith('HTTP/1.1 100 ') && raw.includes('\r\n\r\n')) {
        continued = true;
        raw = raw.slice(raw.indexOf('\r\n\r\n') + 4);
        sock.write(body);
      }
      const m = /^HTTP\/1\.1 (\d{3}) [^]*?\r\n\r\n/.exec(raw);
      if (m && m[1] !== '100') {
        const len = Number(/content-length: (\d+)/i.exec(raw)?.[1] ?? 0);
        if (raw.length - m[0].length >= len) {
          sock.destroy();
          resolve({ raw, continued, status: Number(m[1]) });
        }
      }
    });
    sock.on('error', reject);
    sock.setTimeout(5000, () => {
      sock.destroy();
      reject(new Error(`no final answer; got ${JSON.stringify(raw)}`));
    });
  });
}

const form = (f: Record<string, string>): string => new URLSearchParams(f).toString();

test.serial('Expect: 100-continue with a body over max_request_size: 413 at once, no 100 Continue', async (t) => {
  const before = rows(s.dir).length;
  const r = await expectContinue('/sms/in/default', form({ To: ALICE, From: SENDER, Body: 'x'.repeat(5000) }));
  t.is(r.status, 413);
  t.false(r.continued, 'the client is never told to send the body');
  t.regex(r.raw, /larger than the limit of 2048 bytes/);
  t.is(rows(s.dir).length, before);
});

test.serial('Expect: 100-continue refused on its headers alone: wrong token, no Content-Type', async (t) => {
  const wrong = await expectContinue('/sms/in/tokened/tok_wrongwrongwrong12', form({ To: ALICE, From: SENDER, Body: 'x' }));
  t.is(wrong.status, 403);
  t.false(wrong.continued);
  const untyped = await expectContinue('/sms/in/default', form({ To: ALICE, From: SENDER, Body: 'x' }), { 'content-type': '' });
  t.is(untyped.status, 415);
  t.false(untyped.continued);
});

test.serial('Expect: 100-continue with an acceptable request: 100 Continue, then the text is stored', async (t) => {
  const before = rows(s.dir).length;
  const r = await expectContinue('/sms/in/default', form({ To: ALICE, From: SENDER, Body: 'sent after 100 Continue' }));
  t.true(r.continued);
  t.is(r.status, 200, r.raw);
  t.is(rows(s.dir).length, before + 1);
});

test.serial('a body without a Content-Type is refused with 415 and not stored', async (t) => {
  const before = rows(s.dir).length;
  const res = await fetch(`${s.url}/sms/in/default`, {
    method: 'POST',
    body: new Blob([form({ To: ALICE, From: SENDER, Body: 'what am I?' })]), // a Blob without a type: no Content-Type header
  });
  t.is(res.status, 415);
  t.regex(await res.text(), /no Content-Type; send application\/x-www-form-urlencoded or application\/json/);
  t.is(rows(s.dir).length, before);
});

test.serial('an empty POST with the fields in the query string needs no Content-Type', async (t) => {
  const before = rows(s.dir).length;
  const res = await fetch(`${s.url}/sms/in/default?${form({ To: ALICE, From: SENDER, Body: 'from the query' })}`, { method: 'POST' });
  t.is(res.status, 200, await res.text());
  t.is(rows(s.dir).length, before + 1);
});

for (const to of ['1', '100', '112', '123456', 'sip:100@pbx.example']) {
  test.serial(`a recipient that cannot be a local number (${to}) is refused with 422 and a reason`, async (t) => {
    const before = rows(s.dir).length;
    const r = await s.post('/sms/in/default', { To: to, From: SENDER, Body: 'to nobody' });
    t.is(r.status, 422);
    t.regex(r.text, /^field To: \d+ is a short code, and no local user has one/);
    t.is(r.text.trim().split('\n').length, 1);
    t.is(rows(s.dir).length, before);
  });
}

test.serial('a short code as the sender is still accepted', async (t) => {
  const r = await s.post('/sms/in/default', { To: ALICE, From: '72000', Body: 'your code is 1234' });
  t.is(r.status, 200, r.text);
  t.truthy(rows(s.dir).find((x) => x.sender === '72000'));
});

test.serial('a national recipient is still read the way dp_lookup reads it', async (t) => {
  const r = await s.post('/sms/in/default', { To: '08-12 34 56 78', From: SENDER, Body: 'national' });
  t.is(r.status, 200, r.text);
});

test.serial('a refusal is logged with the client address', async (t) => {
  await s.post('/sms/in/default', { To: '100', From: SENDER, Body: 'x' });
  const line = s.logs.map((l) => JSON.parse(l) as Record<string, unknown>).findLast((l) => l.msg === 'webhook refused');
  t.is(line?.ip, '127.0.0.1');
  t.is(line?.status, 422);
  t.is(line?.iface, 'default');
});

test.serial('an unknown path is logged with the client address and without a token in it', async (t) => {
  const paths = [`/sms/in/tokened/${TOKEN}/extra`, `/sms/in/default/${TOKEN}`, '/sms/in/renamed/tok_zyxwvutsrqponmlk9876', '/sms/status/tokened/tok_zyxwvutsrqponmlk9876'];
  for (const p of paths) t.is((await s.post(p, { To: ALICE, From: SENDER, Body: 'x' })).status, 404);
  const logged = s.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'no such path');
  t.deepEqual(
    logged.slice(-4).map((l) => [l.ip, l.path]),
    [
      ['127.0.0.1', '/sms/in/tokened/(hidden)'],
      ['127.0.0.1', '/sms/in/default/(hidden)'],
      ['127.0.0.1', '/sms/in/renamed/(hidden)'],
      ['127.0.0.1', '/sms/status/tokened/(hidden)'],
    ],
  );
  t.false(s.logs.some((l) => l.includes(TOKEN) || l.includes('tok_zyxwvutsrqponmlk9876')), 'no token anywhere in the log');
});
