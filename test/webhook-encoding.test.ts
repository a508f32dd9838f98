// A webhook whose text cannot be decoded exactly is refused with a 4xx that
// says so, and nothing is stored: invalid UTF-8 in the raw bytes, in
// percent-escapes (form bodies, query strings, VoIP.ms's ';' queries), and
// JSON \u escapes of half a character (in the body, and in JSON inside a form
// field as Zadarma posts it). Real posts to the real listener; texts with
// emoji in every layer still arrive as sent.

import test from 'ava';
import http from 'node:http';
import { startStack, rows, type Stack } from './helpers/stack.js';

const ALICE = '+46812345678';
const SENDER = '+46701234567';
const VMS_TOKEN = 'tok_voipms_encoding_0123';

const INTERFACES = `
[form]
methods = POST, GET
field_id = MessageSid

[json]
field_to = data.to
field_from = data.from
field_body = data.text

[tnx]
provider = telnyx
secret = KEY0123456789abcdef
public_key = MCowBQYDK2VwAyEAexampleexampleexampleexampleexa=
verify = no
allow = 127.0.0.1/32

[zd]
provider = zadarma
account = zdkey
secret = zdsecret-0123456789
number = ${ALICE}
verify = no
allow = 127.0.0.1/32

[vms]
provider = voipms
account = ops@example.com
secret = vms-api-password-0123
token = ${VMS_TOKEN}
allow = 127.0.0.1/32
`;

let s: Stack;
test.before(async () => {
  s = await startStack({ interfaces: INTERFACES, general: "default_interface = form" });
  s.ami.addEndpoint(ALICE, 'alice', ['sip:alice@127.0.0.1:5062']);
});
test.after.always(async () => {
  await s?.stop();
});

/** Raw bytes over HTTP, as a broken ITSP would send them (fetch would re-encode a string). */
function send(method: string, path: string, body: Buffer | string, contentType?: string): Promise<{ status: number; text: string }> {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'latin1') : body;
  return new Promise((resolve, reject) => {
    const u = new URL(s.url);
    const headers: Record<string, string | number> = { 'content-length': bytes.length };
    if (contentType) headers['content-type'] = contentType;
    const req = http.request({ host: u.hostname, port: u.port, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () => resolve({ status: res.statusCode!, text }));
    });
    req.on('error', reject);
    req.end(bytes);
  });
}

const FORM = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';
const form = (body: string): string => `To=${encodeURIComponent(ALICE)}&From=${encodeURIComponent(SENDER)}&${body}`;
const telnyx = (text: string): string =>
  `{"data":{"event_type":"message.received","id":"ev1","payload":{"id":"m1","from":{"phone_number":"${SENDER}"},"to":[{"phone_number":"${ALICE}"}],"text":"${text}","media":[]}}}`;
const zadarma = (text: string): string =>
  `event=SMS&result=${encodeURIComponent(`{"caller_id":"${SENDER.slice(1)}","caller_did":"${ALICE.slice(1)}","text":"${text}"}`)}`;
const vms = (query: string): string => `/sms/in/vms/${VMS_TOKEN}?${query}`;

const refusals: Array<[string, () => Promise<{ status: number; text: string }>, RegExp]> = [
  // Raw bytes
  ['a form body with bytes that are not UTF-8', () => send('POST', '/sms/in/form', Buffer.concat([Buffer.from(form('Body=x')), Buffer.from([0xff, 0xfe])]), FORM), /not valid UTF-8/],
  ['a JSON body in Latin-1', () => send('POST', '/sms/in/json', `{"data":{"to":"${ALICE}","from":"${SENDER}","text":"caf\xe9"}}`, JSON_TYPE), /not valid UTF-8/],
  ['an overlong UTF-8 encoding of "/"', () => send('POST', '/sms/in/form', Buffer.concat([Buffer.from(form('Body=a')), Buffer.from([0xc0, 0xaf])]), FORM), /not valid UTF-8/],
  ['UTF-8 of a surrogate (CESU-8)', () => send('POST', '/sms/in/json', Buffer.concat([Buffer.from(`{"data":{"to":"${ALICE}","from":"${SENDER}","text":"`), Buffer.from([0xed, 0xa0, 0xbd]), Buffer.from('"}}')]), JSON_TYPE), /not valid UTF-8/],
  ['a Telnyx body with bytes that are not UTF-8', () => send('POST', '/sms/in/tnx', Buffer.concat([Buffer.from(telnyx('x')).subarray(0, -10), Buffer.from([0xff]), Buffer.from('"}]}}')]), JSON_TYPE), /not valid UTF-8/],
  // Percent-escapes
  ['Body=x%FF%FE in a form (the issue\'s case)', () => send('POST', '/sms/in/form', form('Body=x%FF%FE'), FORM), /percent-escapes %FF%FE are not valid UTF-8/],
  ['a cut sequence: %E2%82 without its last byte', () => send('POST', '/sms/in/form', form('Body=price%E2%82'), FORM), /%E2%82 are not valid UTF-8/],
  ['an escaped surrogate: %ED%A0%BD', () => send('POST', '/sms/in/form', form('Body=%ED%A0%BD'), FORM), /not valid UTF-8/],
  ['an invalid escape in a number', () => send('POST', '/sms/in/form', `To=%2B46812345678%C0&From=${encodeURIComponent(SENDER)}&Body=hi`, FORM), /not valid UTF-8/],
  ['an invalid escape in a field name', () => send('POST', '/sms/in/form', form('Body=hi&X%FF=1'), FORM), /not valid UTF-8/],
  ['an invalid escape in the query string of a GET', () => send('GET', `/sms/in/form?${form('Body=x%FF')}`, ''), /not valid UTF-8/],
  ['an invalid escape in the query string of a POST', () => send('POST', '/sms/in/form?note=%FF', form('Body=hi'), FORM), /not valid UTF-8/],
  ['VoIP.ms, & query', () => send('GET', vms(`to=${ALICE.slice(3)}&from=2025550161&message=hi%FF&id=1`), ''), /not valid UTF-8/],
  ['VoIP.ms, ; query', () => send('GET', vms(`to=2025550160;from=2025550161;message=hi%FF;id=2`), ''), /not valid UTF-8/],
  ['a Zadarma result field with an invalid escape', () => send('POST', '/sms/in/zd', 'event=SMS&result=%7B%22text%22%3A%22%FF%22%7D', FORM), /not valid UTF-8/],
  // JSON escapes
  ['a JSON lone high surrogate in the text', () => send('POST', '/sms/in/json', `{"data":{"to":"${ALICE}","from":"${SENDER}","text":"hi \\ud83d"}}`, JSON_TYPE), /lone surrogate/],
  ['a JSON lone low surrogate in the text', () => send('POST', '/sms/in/json', `{"data":{"to":"${ALICE}","from":"${SENDER}","text":"\\ude00 hi"}}`, JSON_TYPE), /lone surrogate/],
  ['a JSON pair in the wrong order', () => send('POST', '/sms/in/json', `{"data":{"to":"${ALICE}","from":"${SENDER}","text":"\\ude00\\ud83d"}}`, JSON_TYPE), /lone surrogate/],
  ['a JSON lone surrogate in a number', () => send('POST', '/sms/in/json', `{"data":{"to":"${ALICE}\\ud800","from":"${SENDER}","text":"hi"}}`, JSON_TYPE), /lone surrogate/],
  ['a JSON lone surrogate in a field name', () => send('POST', '/sms/in/json', `{"data":{"to":"${ALICE}","from":"${SENDER}","text":"hi","\\udbff":1}}`, JSON_TYPE), /field name .*lone surrogate/],
  ['a Telnyx text with a lone surrogate', () => send('POST', '/sms/in/tnx', telnyx('hi \\ud83d'), JSON_TYPE), /lone surrogate/],
  ['a Zadarma result (JSON in a form field) with a lone surrogate', () => send('POST', '/sms/in/zd', zadarma('hi \\ud83d'), FORM), /lone surrogate/],
  // Not a body websms reads at all
  ['a multipart body', () => send('POST', '/sms/in/form', '--b\r\nContent-Disposition: form-data; name="Body"\r\n\r\nhi\r\n--b--\r\n', 'multipart/form-data; boundary=b'), /multipart\/form-data is not accepted/],
  ['a form declared as Latin-1', () => send('POST', '/sms/in/form', form('Body=caf%E9'), `${FORM}; charset=iso-8859-1`), /charset iso-8859-1 is not accepted/],
];

for (const [name, call, reason] of refusals) {
  test.serial(`refused: ${name}`, async (t) => {
    const before = rows(s.dir).length;
    const r = await call();
    t.true(r.status >= 400 && r.status < 500, `${r.status} ${r.text}`);
    t.regex(r.text, reason);
    t.is(rows(s.dir).length, before, 'nothing stored');
  });
}

test.serial('refusals are logged with the reason, never with a U+FFFD in place of a byte', async (t) => {
  const lines = s.logs.filter((l) => l.includes('"webhook refused"') && /UTF-8|surrogate/.test(l));
  t.true(lines.length >= refusals.length - 2, `${lines.length} refusal lines`);
  t.false(rows(s.dir).some((r) => String(r.body).includes('\ufffd')), 'no replacement character stored');
});

test.serial('texts that decode exactly still arrive as sent: emoji as UTF-8, as percent-escapes and as JSON surrogate pairs', async (t) => {
  const accepted: Array<[string, () => Promise<{ status: number; text: string }>, string]> = [
    ['form, percent-escaped emoji', () => send('POST', '/sms/in/form', form(`MessageSid=e1&Body=${encodeURIComponent('grin 😀 100% ok')}`), FORM), 'grin 😀 100% ok'],
    ['form, a bare % stays as it is', () => send('POST', '/sms/in/form', form('MessageSid=e2&Body=50%+off%zz'), FORM), '50% off%zz'],
    ['form, raw UTF-8 bytes', () => send('POST', '/sms/in/form', Buffer.from(form('MessageSid=e3&Body=smörgåsbord 😀'), 'utf8'), FORM), 'smörgåsbord 😀'],
    ['form, a literal U+FFFD is a character like any other', () => send('POST', '/sms/in/form', form(`MessageSid=e4&Body=${encodeURIComponent('a \ufffd b')}`), FORM), 'a \ufffd b'],
    ['GET query', () => send('GET', `/sms/in/form?${form(`MessageSid=e5&Body=${encodeURIComponent('query 👍')}`)}`, ''), 'query 👍'],
    ['JSON surrogate pair escapes', () => send('POST', '/sms/in/json', `{"data":{"to":"${ALICE}","from":"${SENDER}","text":"pair \\ud83d\\ude00"}}`, JSON_TYPE), 'pair 😀'],
    ['Telnyx with a surrogate pair', () => send('POST', '/sms/in/tnx', telnyx('telnyx \\ud83d\\ude00'), JSON_TYPE), 'telnyx 😀'],
    ['Zadarma with a surrogate pair inside the result field', () => send('POST', '/sms/in/zd', zadarma('zadarma \\ud83d\\ude00'), FORM), 'zadarma 😀'],
    ['VoIP.ms with an escaped emoji', () => send('GET', vms(`to=${encodeURIComponent(ALICE)}&from=2025550161&message=${encodeURIComponent('vms 😀')}&id=9`), ''), 'vms 😀'],
  ];
  for (const [name, call, body] of accepted) {
    const r = await call();
    t.true(r.status >= 200 && r.status < 300, `${name}: ${r.status} ${r.text}`);
    t.truthy(rows(s.dir).find((x) => x.body === body), `${name}: stored exactly`);
  }
  const d = await s.ami.waitForDelivery((x) => x.body.toString('utf8') === 'pair 😀', 5000);
  t.is(d.endpoint, 'alice');
});
