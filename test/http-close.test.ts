// How a listener closes at stop (src/http/server.ts): nothing new is taken,
// kept-alive connections are told to close or closed, and a request under way
// finishes within the grace. Real listener, real sockets.
import test from 'ava';
import express from 'express';
import http from 'node:http';
import net from 'node:net';
import { listen, STOPPING_STATUS } from '../src/http/server.js';
import { createLogger } from '../src/log.js';

const log = createLogger('error', {}, () => undefined);

/** Every byte a raw connection receives until it closes. */
function collect(sock: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    sock.on('data', (d: Buffer) => (text += d.toString('latin1')));
    sock.on('error', () => undefined);
    sock.on('close', () => resolve(text));
  });
}

const request = (path: string): string => `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi`;

test('a request that arrives on a kept-alive connection after close began is refused 503 with Retry-After and Connection: close; the one under way finishes', async (t) => {
  let finishA!: () => void;
  const seen: string[] = [];
  const server = await listen(
    (req, res) => {
      seen.push(req.url ?? '');
      req.resume();
      // A's answer has started (its keep-alive was decided) when the stop begins.
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
      res.write('o');
      new Promise<void>((r) => (finishA = r)).then(() => res.end('k'), () => undefined);
    },
    '127.0.0.1',
    0,
    log,
  );
  const sock = net.connect(server.port, '127.0.0.1');
  const all = collect(sock);
  sock.write(request('/a'));
  await new Promise<void>((r) => sock.once('data', () => r()));
  const closed = server.close(2000);
  sock.write(request('/b'));
  await new Promise((r) => setTimeout(r, 100));
  finishA();
  const text = await all;
  await closed;
  t.deepEqual(seen, ['/a'], 'the handler never saw the request sent after the stop began');
  const [a, b] = text.split(/(?=HTTP\/1\.1 )/);
  t.regex(a!, /^HTTP\/1\.1 200 /);
  t.true(a!.endsWith('ok'));
  t.regex(b!, new RegExp(`^HTTP/1\\.1 ${STOPPING_STATUS} `));
  t.regex(b!, /\r\nretry-after: 5\r\n/i);
  t.regex(b!, /\r\nconnection: close\r\n/i);
});

const notBegun = test.macro(async (t, app: 'plain' | 'express') => {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const plain: http.RequestListener = (req, res) => {
    req.resume();
    if (req.url === '/slow') void held.then(() => res.end('done'));
    else res.end('quick');
  };
  // The management API and the web page are express apps: their responses have express's own prototype.
  const viaExpress = express();
  viaExpress.post('/slow', (_req, res) => void held.then(() => res.type('text/plain').send('done')));
  viaExpress.post('/quick', (_req, res) => void res.type('text/plain').send('quick'));
  const server = await listen(app === 'plain' ? plain : viaExpress, '127.0.0.1', 0, log);
  // One idle kept-alive connection, one with a request under way.
  const idle = net.connect(server.port, '127.0.0.1');
  const idleText = collect(idle);
  idle.write(request('/quick'));
  await new Promise<void>((r) => idle.once('data', () => r()));
  const busy = net.connect(server.port, '127.0.0.1');
  const busyText = collect(busy);
  busy.write(request('/slow'));
  await new Promise((r) => setTimeout(r, 100));

  const began = Date.now();
  const closed = server.close(5000);
  const idleGone = await idleText.then(() => Date.now() - began);
  t.true(idleGone < 1000, `the idle connection closed after ${idleGone} ms`);
  t.regex(await idleText, /keep-alive/i, 'it had been kept alive');
  release();
  const text = await busyText;
  await closed;
  t.regex(text, /^HTTP\/1\.1 200 /);
  t.regex(text, /\r\nconnection: close\r\n/i);
  t.true(text.endsWith('done'));
  // And nothing new is accepted.
  const refused = await new Promise<string>((resolve) => {
    const r = http.get({ host: '127.0.0.1', port: server.port, path: '/' }, () => resolve('answered'));
    r.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });
  t.is(refused, 'ECONNREFUSED');
});

test('a response not yet begun when close began says Connection: close; an idle kept-alive connection is closed at once', notBegun, 'plain');
test('the same for an express app (the management API, the web page)', notBegun, 'express');

test('a request that is not done when the grace is over is cut: close() does not wait longer', async (t) => {
  const server = await listen((req) => req.resume(), '127.0.0.1', 0, log);
  const sock = net.connect(server.port, '127.0.0.1');
  const text = collect(sock);
  sock.write(request('/never'));
  await new Promise((r) => setTimeout(r, 100));
  const began = Date.now();
  await server.close(300);
  const took = Date.now() - began;
  t.is(await text, '', 'never answered, so never acknowledged');
  t.true(took >= 250 && took < 2000, `closed after ${took} ms`);
});
