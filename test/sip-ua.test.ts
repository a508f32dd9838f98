// The SIP phone double (test/doubles/sip-ua.ts) against a scripted registrar
// on a loopback UDP port: what it sends must be what Asterisk would accept.
import test from 'ava';
import dgram from 'node:dgram';
import { digestAuthorization, parseSip, startSipUa } from './doubles/sip-ua.js';

test('digest answer matches RFC 2617 section 3.5', (t) => {
  const auth = digestAuthorization(
    'Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
    'GET',
    '/dir/index.html',
    'Mufasa',
    'Circle Of Life',
    '0a4f113b',
  );
  t.regex(auth, /response="6629fae49393a05397450978507c4ef1"/);
  t.regex(auth, /opaque="5ccc069c403ebaf9f0171e9517f40e41"/);
});

test('parseSip expands compact headers and takes exactly Content-Length body bytes', (t) => {
  const m = parseSip(Buffer.from('MESSAGE sip:a@h SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nf: <sip:b@h>;tag=1\r\nl: 4\r\n\r\nab\r\nXX'));
  t.is(m?.headers.get('via')?.[0], 'SIP/2.0/UDP h;branch=z9hG4bK1');
  t.is(m?.headers.get('from')?.[0], '<sip:b@h>;tag=1');
  t.deepEqual(m?.body, Buffer.from('ab\r\n'));
});

/** A registrar that challenges once and then accepts a correct answer; records what it saw. */
async function registrar(password: string): Promise<{ port: number; seen: string[]; send(to: number, datagram: string | Buffer): void; close(): void }> {
  const sock = dgram.createSocket('udp4');
  const seen: string[] = [];
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  sock.on('message', (buf, rinfo) => {
    const m = parseSip(buf)!;
    seen.push(m.startLine);
    if (m.startLine.startsWith('SIP/2.0')) return;
    const h = (n: string): string => m.headers.get(n)?.[0] ?? '';
    const uri = m.startLine.split(' ')[1]!;
    const auth = h('authorization');
    const good = auth !== '' && auth === digestAuthorization('Digest realm="asterisk",nonce="n1",qop="auth"', 'REGISTER', uri, 'alice', password, /cnonce="([^"]*)"/.exec(auth)?.[1]);
    const status = good ? '200 OK' : '401 Unauthorized';
    const extra = good ? '' : 'WWW-Authenticate: Digest realm="asterisk",nonce="n1",qop="auth",algorithm=MD5\r\n';
    sock.send(`SIP/2.0 ${status}\r\nVia: ${h('via')}\r\nFrom: ${h('from')}\r\nTo: ${h('to')};tag=r\r\nCall-ID: ${h('call-id')}\r\nCSeq: ${h('cseq')}\r\n${extra}Content-Length: 0\r\n\r\n`, rinfo.port, rinfo.address);
  });
  return { port: sock.address().port, seen, send: (to, datagram) => sock.send(datagram, to, '127.0.0.1'), close: () => sock.close() };
}

test('registers through a digest challenge; a wrong password ends at 401', async (t) => {
  const r = await registrar('right');
  t.teardown(() => r.close());
  const ok = await startSipUa({ server: { host: '127.0.0.1', port: r.port }, user: 'alice', password: 'right' });
  t.teardown(() => ok.close());
  t.is(await ok.register(), 200);
  const bad = await startSipUa({ server: { host: '127.0.0.1', port: r.port }, user: 'alice', password: 'wrong' });
  t.teardown(() => bad.close());
  t.is(await bad.register(), 401);
});

test('a MESSAGE is answered 200 and recorded byte for byte, once even when retransmitted', async (t) => {
  const r = await registrar('x');
  t.teardown(() => r.close());
  const ua = await startSipUa({ server: { host: '127.0.0.1', port: r.port }, user: 'alice', password: 'x' });
  t.teardown(() => ua.close());
  const body = Buffer.from('Hi :) "q" \\ 100% 😀\r\n', 'utf8');
  const msg = `MESSAGE ${ua.contact} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${r.port};branch=z9hG4bKm1\r\nFrom: <sip:+46812345678@127.0.0.1>;tag=a\r\nTo: <${ua.contact}>\r\nCall-ID: c1\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n`;
  r.send(ua.port, Buffer.concat([Buffer.from(msg), body]));
  const [got] = await ua.waitForTexts(1);
  t.deepEqual(got!.body, body);
  t.is(got!.fromUser, '+46812345678');
  r.send(ua.port, Buffer.concat([Buffer.from(msg), body])); // the same transaction again
  await new Promise((res) => setTimeout(res, 200));
  t.is(ua.received.length, 1);
  t.is(r.seen.filter((l) => l === 'SIP/2.0 200 OK').length, 2, 'each copy answered');
});
