// ClickSend end to end: a whole websms with `provider = clicksend`. An inbound
// text (form POST, as ClickSend's URL rule sends it) stored and delivered, one
// with a wrong token refused with nothing stored, a phone's text sent as a
// messages[] batch, a per-message refusal inside a 200 failing the text, and a
// delivery receipt applied.

import test from 'ava';
import { until, rows, startStack, type Stack } from './helpers/stack.js';
import { handOff, outboundRows, profileSection } from './helpers/profile.js';
import { startItspDouble, type ItspDouble, type RecordedRequest } from './doubles/itsp-server.js';

const USER = 'ops@example.com';
const API_KEY = 'CS-API-KEY-0000-never-logged';
const TOKEN = 'clicksend-token-0123456789';
const PHONE = '+12025550160';

let s: Stack;
let itsp: ItspDouble;
let seq = 0;

/** ClickSend's answer: SUCCESS per message, or the status a recipient's number asks for. */
function clicksendLike(r: RecordedRequest) {
  const m = (r.body as { messages: Array<Record<string, string>> }).messages[0]!;
  const status = m['to'] === '+12025550999' ? 'INVALID_RECIPIENT' : 'SUCCESS';
  const id = `BF7AD270-0DE2-418B-B606-${String(++seq).padStart(12, '0')}`;
  return { status: 200, body: { http_code: 200, response_code: 'SUCCESS', response_msg: 'Messages queued for delivery.', data: { messages: [{ ...m, message_id: id, status }] } } };
}

test.before(async () => {
  itsp = await startItspDouble({ requireBasic: { username: USER, password: API_KEY }, default: clicksendLike });
  s = await startStack({
    interfaces: profileSection('gw', 'clicksend', { account: USER, secret: API_KEY, number: PHONE, token: TOKEN, api_url: itsp.url }, 'rate = 0\nrate_per_number = 0\n'),
    general: 'default_interface = gw',
    outbound: 'notify = none',
  });
  s.ami.addEndpoint(PHONE, 'phone', ['sip:phone@127.0.0.1:5062']);
});
test.after.always(async () => {
  await s?.stop();
  await itsp?.stop();
});

const INBOUND = { timestamp: '1709288162', from: '+12025550161', to: PHONE, body: 'Hi there', message: 'Hi there', message_id: '4FE2C3B0-0000-4A7B-8C1D-000000000001', user_id: '1' };

test.serial('an inbound text with a wrong token is refused; with the token it is stored and delivered', async (t) => {
  const bad = await s.post('/sms/in/gw/not-the-token-at-all-xx', INBOUND);
  t.is(bad.status, 403);
  t.is(rows(s.dir).length, 0);
  const ok = await s.post(`/sms/in/gw/${TOKEN}`, INBOUND);
  t.is(ok.status, 200, ok.text);
  const d = await s.ami.waitForDelivery((x) => x.endpoint === 'phone');
  t.is(d.body.toString('utf8'), 'Hi there');
  const row = await until(() => rows(s.dir).find((r) => r.state === 'delivered'));
  t.deepEqual([row.sender, row.recipient, row.provider_id], ['+12025550161', PHONE, INBOUND.message_id]);
});

test.serial('a phone\'s text goes out as one message with our reference; its receipt marks it delivered', async (t) => {
  const run = await handOff(s, PHONE, '+12025550123', 'Hello from the desk phone');
  t.is(run.set.get('WEBSMS_STATUS'), 'QUEUED');
  const r = await itsp.waitFor((x) => (x.body as { messages: Array<{ to: string }> }).messages[0]!.to === '+12025550123', 5000);
  t.true(r.authorized);
  t.is(r.path, '/v3/sms/send');
  const [m] = (r.body as { messages: Array<Record<string, string>> }).messages;
  t.like(m, { source: 'websms', from: PHONE, to: '+12025550123', body: 'Hello from the desk phone' });
  t.truthy(m!['custom_string']);
  const sent = await until(() => outboundRows(s.dir).find((o) => o.state === 'sent'));
  t.regex(sent.provider_id ?? '', /^BF7AD270-/);
  const dlr = await s.post(`/sms/status/gw/${TOKEN}`, { message_id: sent.provider_id!, status: 'Delivered', status_code: '201', status_text: 'Success: Message received on handset.', custom_string: m!['custom_string']! });
  t.is(dlr.status, 200, dlr.text);
  await until(() => outboundRows(s.dir).find((o) => o.id === sent.id && o.state === 'delivered'));
});

test.serial('a refusal inside ClickSend\'s 200 fails the text at once; the sender reads whose problem it is, the log has ClickSend\'s words', async (t) => {
  await handOff(s, PHONE, '+12025550999', 'to a bad number');
  const failed = await until(() => outboundRows(s.dir).find((o) => o.state === 'failed'));
  t.is(failed.attempts, 1);
  t.is(failed.reason, 'the provider refused the number; check the number and send it again');
  t.true(s.logs.some((l) => l.includes('"ITSP refused the text"') && l.includes('INVALID_RECIPIENT: the recipient is not a valid number')));
  t.false(s.logs.some((l) => l.includes(API_KEY)), 'the API key is never logged');
});
