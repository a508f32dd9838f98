// Flowroute end to end: a whole websms with `provider = flowroute`. Inbound
// callbacks in the v2.1, v2.2 and flat forms stored and delivered, one without
// the URL token refused with nothing stored, a phone's text sent as a JSON:API
// document, and its delivery receipt applied.

import test from 'ava';
import { until, rows, startStack, type Stack } from './helpers/stack.js';
import { handOff, outboundRows, profileSection } from './helpers/profile.js';
import { startItspDouble, type ItspDouble } from './doubles/itsp-server.js';

const ACCESS_KEY = '12345678';
const SECRET_KEY = 'fr-s3cret-key-never-logged';
const TOKEN = 'flowroute-token-0123456789';
const PHONE = '+12025550160';
const MDR = 'mdr2-39cadeace66e11e7aff806cd7f24ba2d';

let s: Stack;
let itsp: ItspDouble;

test.before(async () => {
  itsp = await startItspDouble({ requireBasic: { username: ACCESS_KEY, password: SECRET_KEY }, default: { status: 202, body: { data: { type: 'message', id: MDR } } } });
  s = await startStack({
    interfaces: profileSection('gw', 'flowroute', { account: ACCESS_KEY, secret: SECRET_KEY, number: PHONE, token: TOKEN, api_url: itsp.url }, 'rate = 0\nrate_per_number = 0\n'),
    general: 'default_interface = gw',
  });
  s.ami.addEndpoint(PHONE, 'phone', ['sip:phone@127.0.0.1:5062']);
});
test.after.always(async () => {
  await s?.stop();
  await itsp?.stop();
});

function inbound(from: string, to: string, body: string, id: string): Record<string, unknown> {
  return { data: { type: 'message', id, attributes: { body, direction: 'inbound', from, to, is_mms: false, message_type: 'longcode', status: 'delivered', timestamp: '2024-03-01T10:16:02.24Z' } } };
}

test.serial('a callback without the token is refused and nothing is stored', async (t) => {
  const r = await s.post('/sms/in/gw', JSON.stringify(inbound('12025550161', '12025550160', 'no token', 'mdr2-a')));
  t.is(r.status, 403);
  t.regex(r.text, /token/);
  t.is(rows(s.dir).length, 0);
});

test.serial('v2.1, v2.2 and flat callbacks are each stored and delivered to the phone, numbers as E.164', async (t) => {
  const posts = [
    JSON.stringify(inbound('12025550161', '12025550160', 'via v2.1', 'mdr2-v21')),
    JSON.stringify(inbound('+12025550161', '+12025550160', 'via v2.2', 'mdr2-v22')),
    JSON.stringify({ to: '12025550160', body: 'via flat', from: '12025550161', id: 'mdr1-flat' }),
  ];
  for (const body of posts) {
    const r = await s.post(`/sms/in/gw/${TOKEN}`, body);
    t.is(r.status, 200, r.text);
  }
  await until(() => rows(s.dir).length === 3 && rows(s.dir).every((r) => r.state === 'delivered'));
  const stored = rows(s.dir);
  t.deepEqual(stored.map((r) => [r.sender, r.recipient, r.body]), [
    ['+12025550161', PHONE, 'via v2.1'],
    ['+12025550161', PHONE, 'via v2.2'],
    ['+12025550161', PHONE, 'via flat'],
  ]);
  const bodies = s.ami.deliveries.map((d) => d.body.toString('utf8')).sort();
  t.deepEqual(bodies, ['via flat', 'via v2.1', 'via v2.2']);
  // Flowroute retries a callback that was not answered 200; the same message id again is stored once.
  const again = await s.post(`/sms/in/gw/${TOKEN}`, posts[1]!);
  t.is(again.status, 200);
  t.is(rows(s.dir).length, 3);
});

test.serial('a phone\'s text goes out as JSON:API v2.2 with Basic auth; its delivery receipt marks it delivered', async (t) => {
  const run = await handOff(s, PHONE, '+12025550123', 'Hello from the desk phone');
  t.is(run.set.get('WEBSMS_STATUS'), 'QUEUED');
  const [r] = await itsp.waitForRequests(1, 5000);
  t.true(r!.authorized);
  t.is(r!.path, '/v2.2/messages');
  t.is(r!.headers['content-type'], 'application/vnd.api+json');
  t.deepEqual(r!.body, { data: { type: 'message', attributes: { to: '+12025550123', from: PHONE, body: 'Hello from the desk phone' } } });
  const sent = await until(() => outboundRows(s.dir).find((o) => o.state === 'sent'));
  t.is(sent.provider_id, MDR);
  const receipt = {
    data: {
      type: 'delivery_receipt',
      id: MDR,
      attributes: { body: 'Hello from the desk phone', level: 2, status: 'delivered', status_code: 1000, status_code_description: 'Message delivered to handset', timestamp: '2024-03-01T10:15:35.12Z' },
      links: { related: `https://api.flowroute.com/v2.2/messages/${MDR}` },
    },
  };
  const dlr = await s.post(`/sms/status/gw/${TOKEN}`, JSON.stringify(receipt));
  t.is(dlr.status, 200, dlr.text);
  await until(() => outboundRows(s.dir).find((o) => o.id === sent.id && o.state === 'delivered'));
  t.false(s.logs.some((l) => l.includes(SECRET_KEY)), 'the secret key is never logged');
});
