// Self-test of the AMI double over raw TCP: what it does is what Asterisk 22 does.

import test from 'ava';
import net from 'node:net';
import AsteriskManager from 'asterisk-manager';
import { startAmiDouble, type AmiDouble, type AmiDoubleOptions } from './doubles/ami-server.js';

type Msg = { pairs: Array<[string, string]>; get(k: string): string | undefined; raw: string };

/** A bare AMI client: frames by blank lines, keeps every message it got. */
class Raw {
  readonly messages: Msg[] = [];
  banner = '';
  closedAt = 0;
  private buf = '';
  private waiters: Array<() => void> = [];
  private constructor(readonly socket: net.Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.buf += d;
      if (!this.banner) {
        const i = this.buf.indexOf('\r\n');
        if (i < 0) return;
        this.banner = this.buf.slice(0, i + 2);
        this.buf = this.buf.slice(i + 2);
      }
      let end: number;
      while ((end = this.buf.indexOf('\r\n\r\n')) >= 0) {
        const raw = this.buf.slice(0, end + 4);
        this.buf = this.buf.slice(end + 4);
        const pairs = raw
          .slice(0, -4)
          .split('\r\n')
          .map((l): [string, string] => {
            const i = l.indexOf(': ');
            return i < 0 ? [l, ''] : [l.slice(0, i), Buffer.from(l.slice(i + 2), 'latin1').toString('utf8')];
          });
        this.messages.push({ pairs, raw, get: (k) => pairs.find(([n]) => n.toLowerCase() === k.toLowerCase())?.[1] });
      }
      this.wake();
    });
    socket.on('close', () => {
      this.closedAt = Date.now();
      this.wake();
    });
    socket.on('error', () => {});
  }
  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
  static connect(port: number): Promise<Raw> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1');
      sock.once('error', reject);
      const r = new Raw(sock);
      sock.once('connect', () => resolve(r));
    });
  }
  send(text: string | Buffer): void {
    this.socket.write(text);
  }
  action(fields: Array<[string, string]>): void {
    this.send(fields.map(([k, v]) => `${k}: ${v}\r\n`).join('') + '\r\n');
  }
  /** Resolves with the first message (from index `from`) that matches. */
  wait(pred: (m: Msg) => boolean, timeoutMs = 2000): Promise<Msg> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no matching AMI message')), timeoutMs);
      const check = () => {
        const m = this.messages.find(pred);
        if (m) {
          clearTimeout(t);
          return resolve(m);
        }
        if (this.closedAt) {
          clearTimeout(t);
          return reject(new Error('connection closed'));
        }
        this.waiters.push(check);
      };
      check();
    });
  }
  response(id: string, timeoutMs?: number): Promise<Msg> {
    return this.wait((m) => m.get('Response') !== undefined && m.get('ActionID') === id, timeoutMs);
  }
  closed(timeoutMs = 3000): Promise<number> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('still open')), timeoutMs);
      const check = () => (this.closedAt ? (clearTimeout(t), resolve(this.closedAt)) : this.waiters.push(check));
      check();
    });
  }
  close(): void {
    this.socket.destroy();
  }
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function withDouble(t: { teardown(fn: () => unknown): void }, opts: AmiDoubleOptions = {}): Promise<AmiDouble> {
  const ami = await startAmiDouble(opts);
  t.teardown(() => ami.stop());
  return ami;
}

async function loggedIn(ami: AmiDouble, extra: Array<[string, string]> = []): Promise<Raw> {
  const c = await Raw.connect(ami.port);
  c.action([['Action', 'Login'], ['ActionID', 'login'], ['Username', 'websms'], ['Secret', 'secret'], ...extra]);
  const r = await c.response('login');
  if (r.get('Response') !== 'Success') throw new Error('login failed');
  return c;
}

function originate(id: string, exten: string, vars: string[], over: Record<string, string> = {}): Array<[string, string]> {
  const base: Record<string, string> = { Action: 'Originate', ActionID: id, Channel: `Local/${exten}@dp_entry_answer`, Context: 'dp_entry_text_in', Exten: exten, Priority: '1', Async: 'true', ...over };
  return [...Object.entries(base), ...vars.map((v): [string, string] => ['Variable', v])];
}

/** The body the way websms sends it: UTF-8 split at code points, each chunk base64. */
function chunked(body: string, chunkBytes = 360): string[] {
  const chunks: string[] = [];
  let cur = '';
  for (const cp of body) {
    if (Buffer.byteLength(cur + cp) > chunkBytes) {
      chunks.push(cur);
      cur = '';
    }
    cur += cp;
  }
  chunks.push(cur);
  return [`WEBSMS_BODY_PARTS=${chunks.length}`, ...chunks.map((c, i) => `WEBSMS_BODY_${i + 1}=${Buffer.from(c).toString('base64')}`)];
}

test('banner, then Login succeeds and FullyBooted follows', async (t) => {
  const ami = await withDouble(t);
  const c = await Raw.connect(ami.port);
  c.action([['Action', 'Login'], ['ActionID', 'a1'], ['Username', 'WebSMS'], ['Secret', 'secret']]);
  const r = await c.response('a1');
  t.is(c.banner, 'Asterisk Call Manager/11.0.0\r\n');
  t.is(r.raw, 'Response: Success\r\nActionID: a1\r\nMessage: Authentication accepted\r\n\r\n');
  const fb = await c.wait((m) => m.get('Event') === 'FullyBooted');
  t.is(fb.get('Privilege'), 'system');
  t.true(ami.sessions[0].authenticated);
  c.close();
});

test('a wrong secret is answered after about a second, then the socket closes', async (t) => {
  const ami = await withDouble(t);
  const c = await Raw.connect(ami.port);
  const t0 = Date.now();
  c.action([['Action', 'Login'], ['ActionID', 'x'], ['Username', 'websms'], ['Secret', 'nope']]);
  const r = await c.response('x', 3000);
  t.is(r.get('Response'), 'Error');
  t.is(r.get('Message'), 'Authentication failed');
  t.true(Date.now() - t0 >= 950);
  await c.closed();
});

test('before Login every action is refused; Logoff is not', async (t) => {
  const ami = await withDouble(t);
  const c = await Raw.connect(ami.port);
  c.action([['Action', 'Ping'], ['ActionID', 'p']]);
  const r = await c.response('p');
  t.is(r.get('Message'), 'Permission denied');
  c.action([['Action', 'Originate'], ['ActionID', 'o'], ['Channel', 'Local/1@dp_entry_answer']]);
  t.is((await c.response('o')).get('Message'), 'Permission denied');
  t.is(ami.originates.length, 0);
  c.action([['Action', 'Logoff'], ['ActionID', 'l']]);
  const bye = await c.response('l');
  t.is(bye.raw, 'Response: Goodbye\r\nActionID: l\r\nMessage: Thanks for all the fish.\r\n\r\n');
  await c.closed();
});

test('Ping answers Pong with a timestamp; an unknown action is named in the error', async (t) => {
  const ami = await withDouble(t);
  const c = await loggedIn(ami);
  c.action([['Action', 'Ping'], ['ActionID', 'p1']]);
  const p = await c.response('p1');
  t.deepEqual(p.pairs.map(([k]) => k), ['Response', 'ActionID', 'Ping', 'Timestamp']);
  t.is(p.get('Ping'), 'Pong');
  t.regex(p.get('Timestamp')!, /^\d{10}\.\d{6}$/);
  c.action([['Action', 'FrobNicate'], ['ActionID', 'u']]);
  t.is((await c.response('u')).get('Message'), 'Invalid/unknown command: FrobNicate. Use Action: ListCommands to show available commands.');
  c.close();
});

test('a line over 1,022 bytes loses its whole action; 1,022 bytes pass', async (t) => {
  const ami = await withDouble(t);
  const c = await loggedIn(ami);
  // 1,022 bytes of header line (multi-byte characters count as bytes) is accepted.
  const ok = 'X-Pad: ' + 'é'.repeat(507) + 'a';
  t.is(Buffer.byteLength(ok), 1022);
  c.send(`Action: Ping\r\nActionID: fits\r\n${ok}\r\n\r\n`);
  t.is((await c.response('fits')).get('Ping'), 'Pong');
  const long = `Variable: MESSAGE(body)=${'x'.repeat(1023 - 24)}`;
  t.is(Buffer.byteLength(long), 1023);
  c.send(`Action: Originate\r\nActionID: big\r\nChannel: Local/+46701234567@dp_entry_answer\r\nContext: dp_entry_text_in\r\nExten: +46701234567\r\nPriority: 1\r\nAsync: true\r\n${long}\r\n\r\n`);
  const r = await c.response('big');
  t.is(r.get('Response'), 'Error');
  t.is(r.get('Message'), 'Failed to parse message: line too long');
  t.is(ami.originates.length, 0);
  const rec = await ami.waitForAction((a) => a.rejected !== undefined);
  t.is(rec.rejected, 'line too long');
  t.is(rec.name, 'Originate');
  // The session goes on.
  c.action([['Action', 'Ping'], ['ActionID', 'after']]);
  t.is((await c.response('after')).get('Ping'), 'Pong');
  c.close();
});

test('more than 128 headers are refused', async (t) => {
  const ami = await withDouble(t);
  const c = await loggedIn(ami);
  const many = Array.from({ length: 129 }, (_, i): [string, string] => [`X-${i}`, 'y']);
  c.action([['Action', 'Ping'], ['ActionID', 'many'], ...many]);
  t.is((await c.response('many')).get('Message'), 'Too many lines in message or allocation failure');
  t.is((await ami.waitForAction((a) => a.rejected !== undefined)).rejected, 'too many headers');
  c.close();
});

test('a bare LF ends a line: a newline in a value injects a header, two inject an action', async (t) => {
  const ami = await withDouble(t);
  const c = await loggedIn(ami);
  c.send('Action: Ping\r\nActionID: inj\r\nX-Text: hello\nX-Injected: yes\r\n\r\n');
  await c.response('inj');
  const a = await ami.waitForAction((x) => x.headers.some(([, v]) => v === 'inj'));
  t.deepEqual(a.headers, [['Action', 'Ping'], ['ActionID', 'inj'], ['X-Text', 'hello'], ['X-Injected', 'yes']]);
  t.is(a.raw, 'Action: Ping\r\nActionID: inj\r\nX-Text: hello\nX-Injected: yes\r\n\r\n');
  c.send('Action: Ping\r\nActionID: one\r\nX-Text: a\n\nAction: Logoff\r\n\r\n');
  await c.closed();
  t.deepEqual(ami.actions.slice(-2).map((x) => x.name), ['Ping', 'Logoff']);
});

test('Variable: headers are split at commas and lose quotes and backslashes', async (t) => {
  const ami = await withDouble(t);
  const c = await loggedIn(ami);
  c.action(originate('v', '+46700000000', ['A=1,B="x,y",C=a\\,b', 'D=q\\"r', 'MESSAGE(body)=Hello, world=1', 'E=(p,q),F=[r,s]']));
  await c.response('v');
  const o = ami.originates[0];
  t.deepEqual(o.variableHeaders, ['A=1,B="x,y",C=a\\,b', 'D=q\\"r', 'MESSAGE(body)=Hello, world=1', 'E=(p,q),F=[r,s]']);
  t.deepEqual(o.variables, { A: '1', B: 'x,y', C: 'a,b', D: 'q"r', 'MESSAGE(body)': 'Hello', ' world': '1', E: '(p,q)', F: '[r,s]' });
  c.close();
});

test('Originate to a missing context or extension fails at once with no event', async (t) => {
  const ami = await withDouble(t);
  const c = await loggedIn(ami);
  c.action(originate('bad', '+46700000000', [], { Context: 'nope' }));
  const r = await c.response('bad');
  t.is(r.raw, 'Response: Error\r\nActionID: bad\r\nMessage: Extension does not exist.\r\n\r\n');
  c.action(originate('bad2', 'abc', []));
  t.is((await c.response('bad2')).get('Message'), 'Extension does not exist.');
  await delay(100);
  t.false(c.messages.some((m) => m.get('Event') === 'OriginateResponse'));
  c.close();
});

test('success path: chunked base64 is decoded per chunk and cut at 4,095 bytes', async (t) => {
  const ami = await withDouble(t);
  ami.addEndpoint('+46701234567', 'alice', ['sip:alice@10.0.0.2:5060', 'sip:alice@10.0.0.3:5060']);
  const c = await loggedIn(ami);
  const exact = 'åäö€😀\n'.repeat(300).slice(0, 1500); // mixed widths, newlines
  const exactBytes = Buffer.from(exact);
  const long = 'z'.repeat(3000) + 'é'.repeat(1000); // 5,000 bytes
  c.action(originate('s1', '+46701234567', ['WEBSMS_ID=m1', 'MESSAGE(from)=+46709999999', ...chunked(exact)]));
  c.action(originate('s2', '+46701234567', ['WEBSMS_ID=m2', ...chunked(long)]));
  t.is((await c.response('s1')).get('Message'), 'Originate successfully queued');
  const or = await c.wait((m) => m.get('Event') === 'OriginateResponse' && m.get('ActionID') === 's1');
  t.is(or.get('Response'), 'Success');
  t.is(or.get('Reason'), '4');
  t.regex(or.get('Channel')!, /^Local\/\+46701234567@dp_entry_answer-[0-9a-f]{8};1$/);
  const ue = await c.wait((m) => m.get('UserEvent') === 'WebSMS' && m.get('Id') === 'm1');
  t.is(ue.get('Status'), 'DELIVERED');
  t.is(ue.get('Endpoint'), 'alice');
  t.is(ue.get('Contacts'), '2');
  t.is(ue.get('Privilege'), 'user,all');
  const d1 = ami.deliveries.filter((d) => d.websmsId === 'm1');
  t.deepEqual(d1.map((d) => d.contact), ['sip:alice@10.0.0.2:5060', 'sip:alice@10.0.0.3:5060']);
  t.true(d1[0].body.equals(exactBytes));
  t.is(d1[0].from, '+46709999999');
  const d2 = await ami.waitForDelivery((d) => d.websmsId === 'm2');
  t.is(d2.body.length, 4095);
  t.true(d2.body.equals(Buffer.from(long).subarray(0, 4095)));
  // The dialplan-class Newexten events carry the raw body, but this user may not read them.
  t.false(c.messages.some((m) => m.get('Event') === 'Newexten'));
  t.true(ami.events.some((e) => e.name === 'Newexten'));
  c.close();
});

test('unknown number reports FAILED, an unregistered endpoint NO_CONTACTS; raw and URI-encoded bodies', async (t) => {
  const ami = await withDouble(t);
  ami.addEndpoint('+46702222222', 'bob');
  ami.addEndpoint('+46703333333', 'carol', ['sip:carol@h']);
  const c = await loggedIn(ami);
  c.action(originate('f', '+46701111111', ['WEBSMS_ID=f']));
  c.action(originate('n', '+46702222222', ['WEBSMS_ID=n']));
  c.action(originate('r', '+46703333333', ['WEBSMS_ID=r', 'MESSAGE(body)=Hi, there']));
  c.action(originate('u', '+46703333333', ['WEBSMS_ID=u', 'MESSAGE_ENCODE=rfc3986', 'MESSAGE(body)=Hi%2C%20there+%F0%9F%98%80']));
  const f = await c.wait((m) => m.get('Id') === 'f');
  t.is(f.get('Status'), 'FAILED');
  t.is(f.get('Contacts'), '0');
  t.is(f.get('Endpoint'), '');
  const n = await c.wait((m) => m.get('Id') === 'n');
  t.is(n.get('Status'), 'NO_CONTACTS');
  t.is(n.get('Endpoint'), 'bob');
  t.is((await ami.waitForDelivery((d) => d.websmsId === 'r')).body.toString(), 'Hi');
  t.is((await ami.waitForDelivery((d) => d.websmsId === 'u')).body.toString(), 'Hi, there 😀');
  c.close();
});

test('events reach a session only for classes it may read and asked for', async (t) => {
  const ami = await withDouble(t);
  ami.addEndpoint('+46701234567', 'alice', ['sip:alice@h']);
  const userOnly = await loggedIn(ami, [['Events', 'user']]);
  const libStyle = await loggedIn(ami, [['Event', 'off']]); // ignored: gets every readable class
  const masked = await loggedIn(ami);
  masked.action([['Action', 'Events'], ['ActionID', 'e'], ['EventMask', 'call,user,system']]);
  t.is((await masked.response('e')).raw, 'Response: Success\r\nActionID: e\r\nEvents: On\r\n\r\n');
  const off = await loggedIn(ami);
  off.action([['Action', 'Events'], ['ActionID', 'e0'], ['EventMask', 'off']]);
  t.is((await off.response('e0')).get('Events'), 'Off');
  t.false(userOnly.messages.some((m) => m.get('Event') === 'FullyBooted'));

  libStyle.action(originate('o1', '+46701234567', ['WEBSMS_ID=w1', 'MESSAGE(body)=hi']));
  for (const c of [userOnly, libStyle, masked]) await c.wait((m) => m.get('Id') === 'w1');
  await libStyle.wait((m) => m.get('Event') === 'OriginateResponse');
  await masked.wait((m) => m.get('Event') === 'OriginateResponse');
  await delay(50);
  t.false(userOnly.messages.some((m) => m.get('Event') === 'OriginateResponse' || m.get('Event') === 'Hangup'));
  t.false(off.messages.some((m) => m.get('Event') !== undefined && m.get('Event') !== 'FullyBooted'));
  t.deepEqual(ami.sessions.map((s) => s.eventMask.length > 0), [true, true, true, false]);
  for (const c of [userOnly, libStyle, masked, off]) c.close();
});

test('a session that may read dialplan sees raw bodies with their newlines in Newexten', async (t) => {
  const ami = await withDouble(t, { readPerms: ['system', 'call', 'user', 'dialplan'] });
  ami.addEndpoint('+46701234567', 'alice', ['sip:alice@h']);
  const c = await loggedIn(ami);
  c.action(originate('nx', '+46701234567', chunked('line1\n\nEvent: Forged')));
  // A client that splits lines at a bare LF (asterisk-manager does) would read a forged event here.
  const nx = await c.wait((m) => m.get('Event') === 'Newexten' && m.get('Application') === 'Set');
  t.true(nx.raw.includes('AppData: MESSAGE(body)=line1\n\nEvent: Forged\r\n'));
  c.close();
});

test('register and unregister emit ContactStatus; a refresh emits nothing', async (t) => {
  const ami = await withDouble(t);
  const c = await loggedIn(ami);
  ami.register('alice', 'sip:alice@10.0.0.2:5060');
  ami.register('alice', 'sip:alice@10.0.0.2:5060');
  ami.unregister('alice', 'sip:alice@10.0.0.2:5060');
  const removed = await c.wait((m) => m.get('ContactStatus') === 'Removed');
  const reg = c.messages.filter((m) => m.get('Event') === 'ContactStatus');
  t.is(reg.length, 2);
  t.deepEqual(reg[0].pairs, [
    ['Event', 'ContactStatus'],
    ['Privilege', 'system,all'],
    ['URI', 'sip:alice@10.0.0.2:5060'],
    ['ContactStatus', 'NonQualified'],
    ['AOR', 'alice'],
    ['EndpointName', 'alice'],
    ['RoundtripUsec', '0'],
  ]);
  t.is(removed.get('AOR'), 'alice');
  t.deepEqual(ami.contactsOf('alice'), []);
  c.close();
});

test('plans: failure, error, noReport, forced status', async (t) => {
  const ami = await withDouble(t);
  ami.addEndpoint('+46701234567', 'alice', ['sip:alice@h']);
  const c = await loggedIn(ami);
  ami.queuePlan({ kind: 'failure' }, { kind: 'error', message: 'Originate failed' }, { kind: 'noReport' }, { kind: 'status', status: 'FAILED' });
  c.action(originate('p1', '+46701234567', ['WEBSMS_ID=p1']));
  c.action(originate('p2', '+46701234567', ['WEBSMS_ID=p2']));
  c.action(originate('p3', '+46701234567', ['WEBSMS_ID=p3']));
  c.action(originate('p4', '+46701234567', ['WEBSMS_ID=p4']));
  const fail = await c.wait((m) => m.get('Event') === 'OriginateResponse' && m.get('ActionID') === 'p1');
  t.is(fail.get('Response'), 'Failure');
  t.is(fail.get('Reason'), '0');
  t.is(fail.get('Uniqueid'), '<unknown>');
  const hup = await c.wait((m) => m.get('Event') === 'Hangup' && m.get('Cause') === '20');
  t.is(hup.get('Cause-txt'), 'Subscriber absent');
  t.is((await c.response('p2')).get('Response'), 'Error');
  await c.wait((m) => m.get('Event') === 'OriginateResponse' && m.get('ActionID') === 'p3');
  t.is((await c.wait((m) => m.get('Id') === 'p4')).get('Status'), 'FAILED');
  await delay(50);
  t.false(c.messages.some((m) => m.get('Id') === 'p3' || m.get('Id') === 'p1'));
  t.is(ami.deliveries.length, 0);
  c.close();
});

test('a silent plan hangs the whole session, like a stuck Asterisk', async (t) => {
  const ami = await withDouble(t);
  ami.onOriginate = () => ({ kind: 'silent' });
  const c = await loggedIn(ami);
  c.action(originate('h', '+46701234567', []));
  c.action([['Action', 'Ping'], ['ActionID', 'p']]);
  await t.throwsAsync(c.response('p', 300));
  t.is(ami.actions.at(-1)?.name, 'Ping');
  c.close();
});

test('a slow answer holds the response for delayMs', async (t) => {
  const ami = await withDouble(t);
  ami.queuePlan({ kind: 'normal', delayMs: 300 });
  const c = await loggedIn(ami);
  const t0 = Date.now();
  c.action(originate('slow', '+46701234567', []));
  await c.response('slow');
  t.true(Date.now() - t0 >= 280);
  c.close();
});

test('pause refuses connections, resume listens on the same port; dropConnections closes clients', async (t) => {
  const ami = await withDouble(t);
  const port = ami.port;
  const c = await loggedIn(ami);
  await ami.pause();
  await t.throwsAsync(Raw.connect(port), { code: 'ECONNREFUSED' });
  ami.dropConnections();
  await c.closed();
  await ami.resume();
  t.is(ami.port, port);
  const c2 = await loggedIn(ami);
  c2.close();
});

test('the asterisk-manager library logs in, pings and receives events', async (t) => {
  const ami = await withDouble(t);
  type Mgr = {
    action(a: Record<string, unknown>, cb: (err: unknown, res: Record<string, string>) => void): string;
    on(ev: string, fn: (e: Record<string, string>) => void): void;
    disconnect(): void;
  };
  const mgr = (AsteriskManager as unknown as (...a: unknown[]) => Mgr)(ami.port, '127.0.0.1', 'websms', 'secret', true);
  t.teardown(() => mgr.disconnect());
  const seen: Array<Record<string, string>> = [];
  mgr.on('managerevent', (e) => seen.push(e));
  const pong = await new Promise<Record<string, string>>((resolve, reject) =>
    mgr.action({ action: 'ping' }, (err, res) => (err ? reject(err) : resolve(res))),
  );
  t.is(pong.ping, 'Pong');
  const login = ami.actions.find((a) => a.name.toLowerCase() === 'login');
  t.deepEqual(login?.headers.find(([k]) => k === 'Event'), ['Event', 'on']);
  ami.register('alice', 'sip:alice@h');
  await ami.waitFor(() => seen.find((e) => e.event === 'ContactStatus'));
  t.true(seen.some((e) => e.event === 'FullyBooted'));
});

test('AstDB over AMI: DBPut, DBDel and DBDelTree need write system, DBGet system or reporting (main/db.c)', async (t) => {
  const shipped = await withDouble(t, { writePerms: ['originate', 'reporting'] }); // as manager.conf ships
  const c0 = await loggedIn(shipped);
  c0.action([['Action', 'DBPut'], ['ActionID', 'p0'], ['Family', 'f'], ['Key', 'k'], ['Val', 'v']]);
  t.is((await c0.response('p0')).get('Message'), 'Permission denied');
  c0.close();

  const ami = await withDouble(t, { writePerms: ['originate', 'reporting', 'system'] });
  const c = await loggedIn(ami);
  c.action([['Action', 'DBPut'], ['ActionID', 'p'], ['Family', 'websms_delivered'], ['Key', '86400/1-1.1'], ['Val', '123']]);
  t.is((await c.response('p')).get('Message'), 'Updated database successfully');
  t.is(ami.astdb.get('/websms_delivered/86400/1-1.1'), '123');
  c.action([['Action', 'DBGet'], ['ActionID', 'g'], ['Family', 'websms_delivered'], ['Key', '86400/1-1.1']]);
  t.is((await c.response('g')).get('EventList'), 'start');
  t.is((await c.wait((m) => m.get('Event') === 'DBGetResponse')).get('Val'), '123');
  await c.wait((m) => m.get('Event') === 'DBGetComplete');
  c.action([['Action', 'DBGet'], ['ActionID', 'g2'], ['Family', 'websms_delivered'], ['Key', 'nope']]);
  t.is((await c.response('g2')).get('Message'), 'Database entry not found');
  c.action([['Action', 'DBDelTree'], ['ActionID', 'dt'], ['Family', 'websms_delivered'], ['Key', '86400']]);
  t.is((await c.response('dt')).get('Message'), 'Key tree deleted successfully');
  t.is(ami.astdb.size, 0);
  c.action([['Action', 'DBDel'], ['ActionID', 'd'], ['Family', 'websms_delivered'], ['Key', '86400/1-1.1']]);
  t.is((await c.response('d')).get('Message'), 'Database entry not found');
  c.close();
});

test('the delivery record: a message with WEBSMS_RECORD is shown once; handed over again it is reported DELIVERED with Repeat: yes', async (t) => {
  const ami = await withDouble(t);
  ami.addEndpoint('+46701234567', 'alice', ['sip:alice@h1', 'sip:alice@h2']);
  const c = await loggedIn(ami);
  const day = Math.floor(Date.now() / 86_400_000) * 86_400; // a record of an old day would be pruned at once
  const vars = ['WEBSMS_ID=7.1', `WEBSMS_RECORD=${day}/99-7.1`, 'WEBSMS_KEEP=777600', 'WEBSMS_BODY_PARTS=1', `WEBSMS_BODY_1=${Buffer.from('once').toString('base64')}`];
  c.action(originate('r1', '+46701234567', vars));
  const firstReport = await c.wait((m) => m.get('Event') === 'UserEvent' && m.get('Id') === '7.1');
  t.is(firstReport.get('Status'), 'DELIVERED');
  t.is(firstReport.get('Contacts'), '2');
  t.is(firstReport.get('Repeat'), undefined);
  c.action(originate('r2', '+46701234567', vars));
  const again = await c.wait((m) => m.get('Event') === 'UserEvent' && m.get('Id') === '7.1' && m !== firstReport);
  t.is(again.get('Status'), 'DELIVERED');
  t.is(again.get('Repeat'), 'yes');
  t.is(again.get('Contacts'), '0');
  t.regex(again.get('FirstDelivered') ?? '', /^\d+$/);
  t.deepEqual(ami.phones, { 'sip:alice@h1': ['once'], 'sip:alice@h2': ['once'] });
  // Without WEBSMS_RECORD (an older websms, a SIP trunk's text): no record, shown each time.
  c.action(originate('r3', '+46701234567', ['WEBSMS_ID=8.1', 'WEBSMS_BODY_PARTS=1', `WEBSMS_BODY_1=${Buffer.from('twice').toString('base64')}`]));
  c.action(originate('r4', '+46701234567', ['WEBSMS_ID=8.1', 'WEBSMS_BODY_PARTS=1', `WEBSMS_BODY_1=${Buffer.from('twice').toString('base64')}`]));
  await ami.waitFor(() => ami.phones['sip:alice@h1']?.length === 3);
  t.deepEqual(ami.phones['sip:alice@h1'], ['once', 'twice', 'twice']);
  // NO_CONTACTS records nothing.
  ami.addEndpoint('+46709999999', 'bob', []);
  c.action(originate('r5', '+46709999999', ['WEBSMS_ID=9.1', `WEBSMS_RECORD=${day}/99-9.1`]));
  t.is((await c.wait((m) => m.get('Id') === '9.1')).get('Status'), 'NO_CONTACTS');
  t.false(ami.astdb.has(`/websms_delivered/${day}/99-9.1`));
  t.true(ami.astdb.has(`/websms_delivered/${day}/99-7.1`));
  c.close();
});
