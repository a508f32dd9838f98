// A softphone for the tests: a SIP user agent over UDP on a loopback port that
// does what a phone does with texts. It registers (digest authentication),
// unregisters, answers every MESSAGE with 200 OK while recording its body
// byte for byte, answers OPTIONS (Asterisk's qualify), and sends MESSAGEs,
// answering a 401/407 challenge once. Calls are test/doubles/sip-call.ts,
// built on the `sip` hooks below (requests it handles itself, every response
// of a transaction, digest answers).
//
// A request Asterisk retransmits (same Via branch) is answered again but
// recorded once, as a phone's transaction layer would: what `received` counts
// is what a person would see on the screen.

import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';

export interface SipUaOptions {
  /** Where Asterisk's SIP transport listens. */
  server: { host: string; port: number };
  /** The account: user name (also the From user) and password. */
  user: string;
  password: string;
}

/** One MESSAGE this phone received. */
export interface ReceivedText {
  /** The From header as sent, e.g. `<sip:+46812345678@127.0.0.1>;tag=...`. */
  from: string;
  /** The From URI's user part: the number the phone shows. */
  fromUser: string;
  to: string;
  contentType: string;
  /** Every body byte, exactly as it arrived. */
  body: Buffer;
}

export interface SipResponse {
  status: number;
  reason: string;
  headers: Map<string, string[]>;
}

/** A request received, as parsed. */
export type SipMessage = Parsed;

/** What sip-call.ts needs from the phone's SIP layer. */
export interface SipLayer {
  readonly host: string;
  /** The server's host:port, the domain of every URI this phone sends. */
  readonly domain: string;
  /** Sends one datagram (start line and headers as text, then the body) to the server. */
  send(text: string, body?: Buffer): void;
  /** Answers a request; `toTag` is added to To when it has none. */
  respond(req: SipMessage, status: number, reason: string, toTag: string, extra?: string[], body?: Buffer): void;
  /** Takes requests of this method (INVITE, ACK, BYE, CANCEL) instead of answering 501. */
  onRequest(method: string, handler: (req: SipMessage) => void): void;
  /** Every response with this Via branch, provisional ones too, until the returned function is called. */
  onResponse(branch: string, handler: (status: number, reason: string, msg: SipMessage) => void): () => void;
  /** The Authorization (401) or Proxy-Authorization (407) header line answering a challenge. */
  authorization(challenged: SipMessage, status: number, method: string, uri: string): string;
}

export interface SipUa {
  readonly user: string;
  readonly sip: SipLayer;
  readonly port: number;
  /** This phone's contact URI, as it registers it. */
  readonly contact: string;
  /** Texts received so far, in arrival order (a live list). */
  readonly received: readonly ReceivedText[];
  /** REGISTER this contact; resolves with the final status (200 on success). */
  register(expires?: number): Promise<number>;
  /** REGISTER with Expires 0: removes this contact only. */
  unregister(): Promise<number>;
  /** Sends a MESSAGE to `number` at the server; resolves with the final status (202 from Asterisk). */
  sendMessage(number: string, body: string | Buffer, contentType?: string): Promise<number>;
  /** Resolves once at least `n` texts have arrived. */
  waitForTexts(n: number, timeoutMs?: number): Promise<ReceivedText[]>;
  close(): Promise<void>;
}

export class SipTimeoutError extends Error {
  constructor(what: string) {
    super(`no SIP response to ${what}`);
    this.name = 'SipTimeoutError';
  }
}

const COMPACT: Record<string, string> = { v: 'via', f: 'from', t: 'to', i: 'call-id', l: 'content-length', c: 'content-type', m: 'contact', k: 'supported' };

interface Parsed {
  startLine: string;
  headers: Map<string, string[]>;
  body: Buffer;
}

/** Splits one datagram into start line, headers (lower-cased, compact forms expanded) and body. */
export function parseSip(datagram: Buffer): Parsed | undefined {
  const end = datagram.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const lines = datagram.subarray(0, end).toString('utf8').split('\r\n');
  const headers = new Map<string, string[]>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const raw = line.slice(0, colon).trim().toLowerCase();
    const name = COMPACT[raw] ?? raw;
    const list = headers.get(name) ?? [];
    list.push(line.slice(colon + 1).trim());
    headers.set(name, list);
  }
  const length = Number(headers.get('content-length')?.[0] ?? datagram.length - end - 4);
  return { startLine: lines[0]!, headers, body: datagram.subarray(end + 4, end + 4 + length) };
}

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
const token = (bytes = 8): string => randomBytes(bytes).toString('hex');

/** The parameters of one `Digest ...` challenge. */
function parseChallenge(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of value.replace(/^Digest\s+/i, '').matchAll(/([a-zA-Z-]+)\s*=\s*(?:"([^"]*)"|([^,\s]+))/g)) {
    out[m[1]!.toLowerCase()] = m[2] ?? m[3] ?? '';
  }
  return out;
}

/** The Authorization value answering an MD5 digest challenge (RFC 2617, qop=auth when offered). */
export function digestAuthorization(challenge: string, method: string, uri: string, user: string, password: string, cnonce = token()): string {
  const c = parseChallenge(challenge);
  const ha1 = md5(`${user}:${c.realm}:${password}`);
  const ha2 = md5(`${method}:${uri}`);
  const parts = [`username="${user}"`, `realm="${c.realm}"`, `nonce="${c.nonce}"`, `uri="${uri}"`, 'algorithm=MD5'];
  if (c.qop?.split(',').map((q) => q.trim()).includes('auth')) {
    const nc = '00000001';
    parts.push(`response="${md5(`${ha1}:${c.nonce}:${nc}:${cnonce}:auth:${ha2}`)}"`, 'qop=auth', `nc=${nc}`, `cnonce="${cnonce}"`);
  } else {
    parts.push(`response="${md5(`${ha1}:${c.nonce}:${ha2}`)}"`);
  }
  if (c.opaque !== undefined) parts.push(`opaque="${c.opaque}"`);
  return `Digest ${parts.join(', ')}`;
}

const userOf = (nameAddr: string): string => /sips?:([^@;>]*)@/.exec(nameAddr)?.[1] ?? '';

export async function startSipUa(o: SipUaOptions): Promise<SipUa> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const port = socket.address().port;
  const host = '127.0.0.1';
  const domain = `${o.server.host}:${o.server.port}`;
  const contact = `sip:${o.user}@${host}:${port}`;
  const registerCallId = `${token()}@${host}`;
  const registerTag = token(4);
  let cseq = 1;

  const received: ReceivedText[] = [];
  const seenBranches = new Set<string>();
  const pending = new Map<string, (r: SipResponse) => void>();
  const requestHandlers = new Map<string, (req: Parsed) => void>();
  const responseHandlers = new Map<string, (status: number, reason: string, msg: Parsed) => void>();
  const waiters: Array<() => void> = [];
  const timers = new Set<NodeJS.Timeout>();

  const send = (text: string, body: Buffer = Buffer.alloc(0)): void => {
    socket.send(Buffer.concat([Buffer.from(text, 'utf8'), body]), o.server.port, o.server.host);
  };

  /** Answers a request: Via, From, To (tagged), Call-ID and CSeq copied, as RFC 3261 8.2.6 says. */
  const respond = (req: Parsed, status: number, reason: string, toTag: string, extra: string[] = [], body?: Buffer): void => {
    const h = (n: string): string[] => req.headers.get(n) ?? [];
    const to = h('to')[0] ?? '';
    const lines = [
      `SIP/2.0 ${status} ${reason}`,
      ...h('via').map((v) => `Via: ${v}`),
      `From: ${h('from')[0] ?? ''}`,
      `To: ${/;tag=/i.test(to) ? to : `${to};tag=${toTag}`}`,
      `Call-ID: ${h('call-id')[0] ?? ''}`,
      `CSeq: ${h('cseq')[0] ?? ''}`,
      ...extra,
      `Content-Length: ${body?.length ?? 0}`,
    ];
    send(`${lines.join('\r\n')}\r\n\r\n`, body);
  };

  socket.on('message', (datagram) => {
    const msg = parseSip(datagram);
    if (!msg) return;
    if (msg.startLine.startsWith('SIP/2.0 ')) {
      const m = /^SIP\/2\.0 (\d{3}) ?(.*)$/.exec(msg.startLine);
      const branch = /branch=([^;,\s]+)/.exec(msg.headers.get('via')?.[0] ?? '')?.[1];
      const status = Number(m?.[1]);
      if (branch) responseHandlers.get(branch)?.(status, m?.[2] ?? '', msg);
      if (!branch || status < 200) return; // provisional: keep waiting for the final answer
      pending.get(branch)?.({ status, reason: m?.[2] ?? '', headers: msg.headers });
      pending.delete(branch);
      return;
    }
    const method = msg.startLine.split(' ')[0]!;
    const handler = requestHandlers.get(method);
    if (handler) {
      handler(msg);
      return;
    }
    const branch = /branch=([^;,\s]+)/.exec(msg.headers.get('via')?.[0] ?? '')?.[1] ?? token();
    const toTag = md5(branch).slice(0, 8); // the same tag for a retransmission's answer
    if (method === 'MESSAGE') {
      if (!seenBranches.has(branch)) {
        seenBranches.add(branch);
        received.push({
          from: msg.headers.get('from')?.[0] ?? '',
          fromUser: userOf(msg.headers.get('from')?.[0] ?? ''),
          to: msg.headers.get('to')?.[0] ?? '',
          contentType: msg.headers.get('content-type')?.[0] ?? '',
          body: Buffer.from(msg.body),
        });
        for (const w of waiters.splice(0)) w();
      }
      respond(msg, 200, 'OK', toTag);
    } else if (method === 'OPTIONS' || method === 'NOTIFY') {
      respond(msg, 200, 'OK', toTag);
    } else if (method !== 'ACK') {
      respond(msg, 501, 'Not Implemented', toTag);
    }
  });

  /**
   * One client transaction: sends the request and resends it on RFC 3261's
   * timer A schedule until a final response arrives (timer F: 32 s).
   */
  const transact = (method: string, uri: string, headers: string[], body?: Buffer, contentType?: string): Promise<SipResponse> => {
    const branch = `z9hG4bK${token()}`;
    const lines = [
      `${method} ${uri} SIP/2.0`,
      `Via: SIP/2.0/UDP ${host}:${port};rport;branch=${branch}`,
      'Max-Forwards: 70',
      ...headers,
      ...(contentType ? [`Content-Type: ${contentType}`] : []),
      `Content-Length: ${body?.length ?? 0}`,
    ];
    const text = `${lines.join('\r\n')}\r\n\r\n`;
    return new Promise<SipResponse>((resolve, reject) => {
      let interval = 500;
      let timer: NodeJS.Timeout | undefined;
      const started = Date.now();
      const resend = (): void => {
        if (Date.now() - started > 32_000) {
          pending.delete(branch);
          reject(new SipTimeoutError(`${method} ${uri}`));
          return;
        }
        send(text, body);
        if (timer) timers.delete(timer);
        timer = setTimeout(resend, interval);
        timers.add(timer);
        interval = Math.min(interval * 2, 4000);
      };
      pending.set(branch, (r) => {
        if (timer) {
          clearTimeout(timer);
          timers.delete(timer);
        }
        resolve(r);
      });
      resend();
    });
  };

  const authorization = (headers: Map<string, string[]>, status: number, method: string, uri: string): string => {
    const challenges = headers.get(status === 401 ? 'www-authenticate' : 'proxy-authenticate') ?? [];
    const challenge = challenges.find((c) => !/algorithm=(?!"?MD5)/i.test(c)) ?? challenges[0] ?? '';
    const header = status === 401 ? 'Authorization' : 'Proxy-Authorization';
    return `${header}: ${digestAuthorization(challenge, method, uri, o.user, o.password)}`;
  };

  const sip: SipLayer = {
    host,
    domain,
    send,
    respond,
    onRequest: (method, handler) => void requestHandlers.set(method, handler),
    onResponse(branch, handler) {
      responseHandlers.set(branch, handler);
      return () => void responseHandlers.delete(branch);
    },
    authorization: (challenged, status, method, uri) => authorization(challenged.headers, status, method, uri),
  };

  /** Sends a request; on a 401/407 challenge sends it once more with the answer. */
  const request = async (method: string, uri: string, headers: (n: number) => string[], body?: Buffer, contentType?: string): Promise<SipResponse> => {
    const first = await transact(method, uri, headers(cseq++), body, contentType);
    if (first.status !== 401 && first.status !== 407) return first;
    const auth = authorization(first.headers, first.status, method, uri);
    return transact(method, uri, [...headers(cseq++), auth], body, contentType);
  };

  const register = async (expires: number): Promise<number> => {
    const uri = `sip:${domain}`;
    const r = await request('REGISTER', uri, (n) => [
      `From: <sip:${o.user}@${domain}>;tag=${registerTag}`,
      `To: <sip:${o.user}@${domain}>`,
      `Call-ID: ${registerCallId}`,
      `CSeq: ${n} REGISTER`,
      `Contact: <${contact}>`,
      `Expires: ${expires}`,
    ]);
    return r.status;
  };

  return {
    user: o.user,
    sip,
    port,
    contact,
    received,
    register: (expires = 300) => register(expires),
    unregister: () => register(0),
    async sendMessage(number, body, contentType = 'text/plain;charset=UTF-8') {
      const uri = `sip:${number}@${domain}`;
      const callId = `${token()}@${host}`;
      const tag = token(4);
      const r = await request(
        'MESSAGE',
        uri,
        (n) => [`From: <sip:${o.user}@${domain}>;tag=${tag}`, `To: <${uri}>`, `Call-ID: ${callId}`, `CSeq: ${n} MESSAGE`],
        Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'),
        contentType,
      );
      return r.status;
    },
    async waitForTexts(n, timeoutMs = 10_000) {
      const end = Date.now() + timeoutMs;
      while (received.length < n) {
        const left = end - Date.now();
        if (left <= 0) throw new Error(`${o.user} (${contact}) received ${received.length} of ${n} texts`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
      return received.slice();
    },
    close() {
      for (const t of timers) clearTimeout(t);
      return new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}
