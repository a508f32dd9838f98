// Zadarma end to end: a whole websms with `provider = zadarma` behind its
// webhook listener, an AMI double and the ITSP double. The URL check, a signed
// notification stored and delivered to the phone, a wrongly signed one refused
// with nothing stored, and a phone's text sent as a signed request.

import test from 'ava';
import crypto from 'node:crypto';
import { until, rows, startStack, type Stack } from './helpers/stack.js';
import { handOff, outboundRows, profileSection } from './helpers/profile.js';
import { startItspDouble, type ItspDouble } from './doubles/itsp-server.js';

const KEY = 'a1b2c3d4e5';
const SECRET = 'zadarma-s3cret-never-logged';
const PHONE = '+12025550161';
const CALLER = '+12025550199';

let s: Stack;
let itsp: ItspDouble;

test.before(async () => {
  itsp = await startItspDouble({ default: { status: 200, body: { status: 'success', messages: 1, cost: 0.06, currency: 'USD', denied_numbers: [] } } });
  s = await startStack({
    interfaces: profileSection('gw', 'zadarma', { account: KEY, secret: SECRET, number: PHONE, api_url: itsp.url }, 'rate = 0\nrate_per_number = 0\n'),
    general: 'default_interface = gw',
  });
  s.ami.addEndpoint(PHONE, 'phone', ['sip:phone@127.0.0.1:5062']);
});
test.after.always(async () => {
  await s?.stop();
  await itsp?.stop();
});

function signed(result: string, secret = SECRET): { body: string; signature: string } {
  const hex = crypto.createHmac('sha1', secret).update(result).digest('hex');
  return { body: new URLSearchParams({ event: 'SMS', result }).toString(), signature: Buffer.from(hex).toString('base64') };
}

test.serial('the zd_echo URL check is answered with the value alone', async (t) => {
  const r = await fetch(`${s.url}/sms/in/gw?zd_echo=9f8e7d6c5b`);
  t.is(r.status, 200);
  t.is(await r.text(), '9f8e7d6c5b');
  t.is(rows(s.dir).length, 0);
});

test.serial('a wrongly signed notification is refused 403 and nothing is stored; a signed one is stored and delivered', async (t) => {
  const result = JSON.stringify({ caller_id: CALLER.slice(1), caller_did: PHONE.slice(1), text: 'Hi from Zadarma' });
  const forged = signed(result, 'not-the-secret');
  const bad = await s.post('/sms/in/gw', forged.body, { 'content-type': 'application/x-www-form-urlencoded', signature: forged.signature });
  t.is(bad.status, 403);
  t.regex(bad.text, /Signature does not match/);
  t.is(rows(s.dir).length, 0);
  t.true(s.logs.some((l) => l.includes('webhook refused') && l.includes('Signature does not match')));
  const good = signed(result);
  const ok = await s.post('/sms/in/gw', good.body, { 'content-type': 'application/x-www-form-urlencoded', signature: good.signature });
  t.is(ok.status, 200, ok.text);
  const d = await s.ami.waitForDelivery((x) => x.endpoint === 'phone');
  t.is(d.body.toString('utf8'), 'Hi from Zadarma');
  const row = await until(() => rows(s.dir).find((r) => r.state === 'delivered'));
  t.is(row.sender, CALLER);
  t.is(row.recipient, PHONE);
  t.false(s.logs.some((l) => l.includes(SECRET)), 'the secret is never logged');
});

test.serial('a phone\'s text goes out as a signed form POST to /v1/sms/send/ and is marked sent', async (t) => {
  const run = await handOff(s, PHONE, '+12025550123', 'Hello * world ~');
  t.is(run.set.get('WEBSMS_STATUS'), 'QUEUED');
  const [r] = await itsp.waitForRequests(1, 5000);
  t.is(r!.path, '/v1/sms/send/');
  const raw = r!.rawBody.toString('latin1');
  t.is(raw, 'caller_id=12025550161&format=json&message=Hello+%2A+world+%7E&number=12025550123');
  const md5 = crypto.createHash('md5').update(raw).digest('hex');
  const hex = crypto.createHmac('sha1', SECRET).update('/v1/sms/send/' + raw + md5).digest('hex');
  t.is(r!.headers['authorization'], `${KEY}:${Buffer.from(hex).toString('base64')}`);
  const out = await until(() => outboundRows(s.dir).find((o) => o.state === 'sent'));
  t.is(out.provider_id, null);
});
