// VoIP.ms end to end: a whole websms with `provider = voipms`. The URL
// callback (a GET built from the placeholders) stored, answered "ok" and
// delivered; one without the token refused with nothing stored; a phone's text
// sent as the REST GET; the API password in no log line and no stored reason.

import test from 'ava';
import { until, rows, startStack, type Stack } from './helpers/stack.js';
import { handOff, outboundRows, profileSection } from './helpers/profile.js';
import { startItspDouble, type ItspDouble } from './doubles/itsp-server.js';
import { voipmsCallbackUrl } from '../providers/voipms.js';

const USER = 'ops@example.com';
const PASSWORD = 'Vo1p-API-pa$$word-never-logged';
const TOKEN = 'voipms-token-0123456789abc';
const PHONE = '+12025550160';

let s: Stack;
let itsp: ItspDouble;

test.before(async () => {
  itsp = await startItspDouble({
    default: (r) => (r.query['dst'] === '2025550999' ? { status: 200, body: { status: 'invalid_dst' } } : { status: 200, body: { status: 'success', sms: 23434 } }),
  });
  s = await startStack({
    interfaces: profileSection('gw', 'voipms', { account: USER, secret: PASSWORD, number: PHONE, token: TOKEN, api_url: itsp.url }, 'rate = 0\nrate_per_number = 0\n'),
    general: 'default_interface = gw',
    outbound: 'notify = none',
  });
  s.ami.addEndpoint(PHONE, 'phone', ['sip:phone@127.0.0.1:5062']);
});
test.after.always(async () => {
  await s?.stop();
  await itsp?.stop();
});

/** The pasted callback URL as VoIP.ms fills it in, against this daemon. */
function filled(token: string, message: string): string {
  const iface = { path: '/sms/in/gw', publicUrl: `${s.url}/sms/in/gw`, token, fieldTo: 'to', fieldFrom: 'from', fieldBody: 'message', fieldId: 'id' };
  return voipmsCallbackUrl(iface, { revealToken: true })
    .replace('{TO}', '2025550160')
    .replace('{FROM}', '2025550161')
    .replace('{MESSAGE}', encodeURIComponent(message))
    .replace('{ID}', '1234567')
    .replace('{TIMESTAMP}', encodeURIComponent('2024-03-01 10:16:02'))
    .replace('{MEDIA}', '');
}

test.serial('the callback without the token is refused; with it the text is stored, answered "ok" and delivered', async (t) => {
  const bad = await fetch(filled('', 'no token'));
  t.is(bad.status, 403);
  t.is(rows(s.dir).length, 0);
  const r = await fetch(filled(TOKEN, 'Hi there; from VoIP.ms'));
  t.is(r.status, 200);
  t.is(await r.text(), 'ok');
  const d = await s.ami.waitForDelivery((x) => x.endpoint === 'phone');
  t.is(d.body.toString('utf8'), 'Hi there; from VoIP.ms');
  const row = await until(() => rows(s.dir).find((x) => x.state === 'delivered'));
  t.deepEqual([row.sender, row.recipient, row.provider_id], ['+12025550161', PHONE, '1234567']);
});

test.serial('a phone\'s text goes out as the REST GET with 10-digit numbers; a refused one fails with VoIP.ms\'s keyword; the password is never logged', async (t) => {
  await handOff(s, PHONE, '+12025550123', 'Hello from the desk phone');
  const r = await itsp.waitFor((x) => x.query['dst'] === '2025550123', 5000);
  t.is(r.method, 'GET');
  t.is(r.path, '/api/v1/rest.php');
  t.like(r.query, { api_username: USER, api_password: PASSWORD, method: 'sendSMS', did: '2025550160', dst: '2025550123', message: 'Hello from the desk phone' });
  const sent = await until(() => outboundRows(s.dir).find((o) => o.state === 'sent'));
  t.is(sent.provider_id, '23434');
  await handOff(s, PHONE, '+12025550999', 'to a bad number');
  const failed = await until(() => outboundRows(s.dir).find((o) => o.state === 'failed'));
  t.is(failed.reason, 'the provider refused the number; check the number and send it again');
  t.true(s.logs.some((l) => l.includes('"ITSP refused the text"') && l.includes('invalid_dst: the recipient is not a valid 10-digit US or Canadian number')));
  t.false(s.logs.some((l) => l.includes(PASSWORD) || l.includes(encodeURIComponent(PASSWORD))), 'the API password is in no log line');
  t.false(outboundRows(s.dir).some((o) => (o.reason ?? '').includes(PASSWORD)), 'nor in a stored reason');
});
