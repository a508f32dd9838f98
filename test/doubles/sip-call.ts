// Calls for the phone double (sip-ua.ts): what a softphone does on the wire
// when it calls and is called, over its registered UDP port.
//
//   calling   INVITE with an SDP offer of PCMU/8000 (answering a 401/407
//             challenge once), ACK of the final response, CANCEL while it
//             rings, BYE once answered; early media (183 with SDP) is
//             listened to as well.
//   called    100 and 180, then as the phone is set: answer (200 with SDP
//             after a delay, re-sent until the ACK), busy (486), or ring
//             until the caller gives up (CANCEL: 200, then 487); BYE ends it.
//
// Audio is rtp.ts: each call sends a tone of its own frequency every 20 ms
// from the moment it knows where to (the other side's SDP) and keeps what
// it hears, so a test can tell who heard whom, and Asterisk records sound.

import { randomBytes } from 'node:crypto';
import { startRtp, type RtpSession } from './rtp.js';
import type { SipMessage, SipUa } from './sip-ua.js';

export type AnswerMode = { answer: number } | 'busy' | 'ring';

export interface FinalResponse {
  status: number;
  reason: string;
  /** The Q.850 cause of a Reason header (RFC 3326), when there is one. */
  cause?: number;
}

export interface Call {
  readonly direction: 'out' | 'in';
  readonly callId: string;
  /** Statuses of the provisional responses (calling) or sent (called). */
  readonly provisional: number[];
  /** The final response to the INVITE: received (calling) or sent (called). */
  readonly final: Promise<FinalResponse>;
  /** Resolves once the call is over, with who ended it. */
  readonly ended: Promise<'local' | 'remote' | 'failed' | 'cancelled'>;
  /** The Q.850 cause of the BYE that ended it, when it carried one. */
  readonly byeCause: number | undefined;
  readonly rtp: RtpSession;
  /** BYE (answered) or CANCEL (still ringing). */
  hangup(): Promise<void>;
}

export interface CallPhone {
  readonly ua: SipUa;
  /** What this phone does with a call: answer after ms, busy, or ring until cancelled. Default: answer at once. */
  answerMode: AnswerMode;
  /** Calls made and received, in order. */
  readonly calls: readonly Call[];
  /** Calls `number` at the server, sending a tone of `hz`. */
  dial(number: string, o?: { hz?: number }): Promise<Call>;
  /** Resolves with the next incoming call (or one already there and not yet taken). */
  waitForIncoming(timeoutMs?: number): Promise<Call>;
  close(): Promise<void>;
}

const token = (bytes = 8): string => randomBytes(bytes).toString('hex');
const header = (m: SipMessage, name: string): string => m.headers.get(name)?.[0] ?? '';
const tagOf = (nameAddr: string): string | undefined => /;tag=([^;>\s]+)/i.exec(nameAddr)?.[1];
const uriOf = (nameAddr: string): string => /<([^>]+)>/.exec(nameAddr)?.[1] ?? nameAddr.split(';')[0]!.trim();
const causeOf = (m: SipMessage): number | undefined => {
  const c = /Q\.850\s*;\s*cause=(\d+)/i.exec((m.headers.get('reason') ?? []).join(','))?.[1];
  return c === undefined ? undefined : Number(c);
};

/** Where the SDP says to send audio: the c= address and the first audio m= port. */
export function sdpTarget(body: Buffer): { host: string; port: number } | undefined {
  const text = body.toString('utf8');
  const host = /^c=IN IP4 (\S+)/m.exec(text)?.[1];
  const port = /^m=audio (\d+) /m.exec(text)?.[1];
  return host && port && port !== '0' ? { host, port: Number(port) } : undefined;
}

function sdp(host: string, port: number): Buffer {
  const id = Date.now() % 1_000_000_000;
  return Buffer.from(
    [
      'v=0',
      `o=- ${id} ${id} IN IP4 ${host}`,
      's=websms test phone',
      `c=IN IP4 ${host}`,
      't=0 0',
      `m=audio ${port} RTP/AVP 0`,
      'a=rtpmap:0 PCMU/8000',
      'a=ptime:20',
      'a=sendrecv',
      '',
    ].join('\r\n'),
  );
}

/** Resends `send` on RFC 3261's timer A/G schedule (0.5 s doubling to 4 s) until stopped or 32 s passed. */
function retransmit(send: () => void): () => void {
  let interval = 500;
  let timer: NodeJS.Timeout | undefined;
  const started = Date.now();
  const again = (): void => {
    send();
    if (Date.now() - started > 32_000) return;
    timer = setTimeout(again, interval);
    interval = Math.min(interval * 2, 4000);
  };
  again();
  return () => clearTimeout(timer);
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
}
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

export function callPhone(ua: SipUa): CallPhone {
  const { sip } = ua;
  const contact = `<${ua.contact}>`;
  const calls: Call[] = [];
  const incoming: Call[] = [];
  const incomingWaiters: Array<() => void> = [];
  /** In-dialog requests (ACK, BYE, CANCEL) find their call by Call-ID. */
  const byCallId = new Map<string, { onRequest(req: SipMessage): void }>();
  const phone: CallPhone = {
    ua,
    answerMode: { answer: 0 },
    calls,
    dial: (number, o = {}) => dial(number, o.hz ?? 440),
    async waitForIncoming(timeoutMs = 15_000) {
      const end = Date.now() + timeoutMs;
      while (incoming.length === 0) {
        const left = end - Date.now();
        if (left <= 0) throw new Error(`${ua.contact} received no call in ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          incomingWaiters.push(() => (clearTimeout(t), resolve()));
        });
      }
      return incoming.shift()!;
    },
    async close() {
      await Promise.all(calls.map((c) => c.rtp.close().catch(() => undefined)));
    },
  };

  /** Sends a request inside a dialog as its own transaction, re-sent until a final response. */
  const inDialog = (method: string, target: string, from: string, to: string, callId: string, cseq: number): Promise<number> => {
    const branch = `z9hG4bK${token()}`;
    const text = [
      `${method} ${target} SIP/2.0`,
      `Via: SIP/2.0/UDP ${sip.host}:${ua.port};rport;branch=${branch}`,
      'Max-Forwards: 70',
      `From: ${from}`,
      `To: ${to}`,
      `Call-ID: ${callId}`,
      `CSeq: ${cseq} ${method}`,
      'Content-Length: 0',
    ].join('\r\n');
    return new Promise((resolve) => {
      const stop = retransmit(() => sip.send(`${text}\r\n\r\n`));
      const off = sip.onResponse(branch, (status) => {
        if (status < 200) return;
        stop();
        off();
        resolve(status);
      });
    });
  };

  async function dial(number: string, hz: number): Promise<Call> {
    const rtp = await startRtp(hz);
    const uri = `sip:${number}@${sip.domain}`;
    const callId = `${token()}@${sip.host}`;
    const from = `<sip:${ua.user}@${sip.domain}>;tag=${token(4)}`;
    let cseq = 1;
    let inviteBranch = '';
    let remoteTo = `<${uri}>`;
    let remoteTarget = uri;
    let answered = false;
    let byeCause: number | undefined;
    const provisional: number[] = [];
    const final = deferred<FinalResponse>();
    const ended = deferred<'local' | 'remote' | 'failed' | 'cancelled'>();
    let stopInvite = (): void => undefined;

    const ack = (branch: string, to: string, target: string, n: number): void => {
      sip.send(
        [
          `ACK ${target} SIP/2.0`,
          `Via: SIP/2.0/UDP ${sip.host}:${ua.port};rport;branch=${branch}`,
          'Max-Forwards: 70',
          `From: ${from}`,
          `To: ${to}`,
          `Call-ID: ${callId}`,
          `CSeq: ${n} ACK`,
          'Content-Length: 0',
        ].join('\r\n') + '\r\n\r\n',
      );
    };

    const invite = (auth?: string): void => {
      const branch = `z9hG4bK${token()}`;
      const n = cseq;
      inviteBranch = branch;
      const body = sdp(sip.host, rtp.port);
      const text = [
        `INVITE ${uri} SIP/2.0`,
        `Via: SIP/2.0/UDP ${sip.host}:${ua.port};rport;branch=${branch}`,
        'Max-Forwards: 70',
        `From: ${from}`,
        `To: <${uri}>`,
        `Call-ID: ${callId}`,
        `CSeq: ${n} INVITE`,
        `Contact: ${contact}`,
        'Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, UPDATE',
        ...(auth ? [auth] : []),
        'Content-Type: application/sdp',
        `Content-Length: ${body.length}`,
      ].join('\r\n');
      stopInvite = retransmit(() => sip.send(`${text}\r\n\r\n`, body));
      const off = sip.onResponse(branch, (status, reason, msg) => {
        if (!/INVITE/i.test(header(msg, 'cseq'))) return; // the 200 to our CANCEL
        stopInvite();
        const to = header(msg, 'to');
        if (status < 200) {
          if (!provisional.includes(status)) provisional.push(status);
          const target = sdpTarget(msg.body);
          if (target) rtp.sendTo(target.host, target.port); // early media
          return;
        }
        if (status >= 200 && status < 300) {
          // the 200 is re-sent until our ACK arrives: ACK each copy, act on the first
          remoteTo = to;
          remoteTarget = uriOf(header(msg, 'contact')) || uri;
          ack(`z9hG4bK${token()}`, to, remoteTarget, n);
          if (answered) return;
          answered = true;
          const target = sdpTarget(msg.body);
          if (target) rtp.sendTo(target.host, target.port);
          final.resolve({ status, reason, cause: causeOf(msg) });
          return;
        }
        ack(branch, to, uri, n); // a failure's ACK belongs to the INVITE transaction
        off();
        if ((status === 401 || status === 407) && !auth) {
          cseq++;
          invite(sip.authorization(msg, status, 'INVITE', uri));
          return;
        }
        final.resolve({ status, reason, cause: causeOf(msg) });
        ended.resolve(status === 487 ? 'cancelled' : 'failed');
        void rtp.close();
      });
    };

    byCallId.set(callId, {
      onRequest(req) {
        const method = req.startLine.split(' ')[0];
        if (method === 'BYE') {
          byeCause = causeOf(req);
          sip.respond(req, 200, 'OK', '');
          ended.resolve('remote');
          void rtp.close();
        } else if (method === 'INVITE' || method === 'UPDATE') {
          sip.respond(req, 200, 'OK', '', [`Contact: ${contact}`, 'Content-Type: application/sdp'], method === 'INVITE' ? sdp(sip.host, rtp.port) : undefined);
        } else if (method !== 'ACK') {
          sip.respond(req, 200, 'OK', '');
        }
      },
    });

    invite();
    const call: Call = {
      direction: 'out',
      callId,
      provisional,
      final: final.promise,
      ended: ended.promise,
      get byeCause() {
        return byeCause;
      },
      rtp,
      async hangup() {
        if (answered) {
          cseq++;
          await inDialog('BYE', remoteTarget, from, remoteTo, callId, cseq);
          ended.resolve('local');
          await rtp.close();
          return;
        }
        // CANCEL matches the INVITE: same branch, same CSeq number
        sip.send(
          [
            `CANCEL ${uri} SIP/2.0`,
            `Via: SIP/2.0/UDP ${sip.host}:${ua.port};rport;branch=${inviteBranch}`,
            'Max-Forwards: 70',
            `From: ${from}`,
            `To: <${uri}>`,
            `Call-ID: ${callId}`,
            `CSeq: ${cseq} CANCEL`,
            'Content-Length: 0',
          ].join('\r\n') + '\r\n\r\n',
        );
        await ended.promise;
      },
    };
    calls.push(call);
    return call;
  }

  async function answerIncoming(req: SipMessage): Promise<void> {
    const callId = header(req, 'call-id');
    const existing = byCallId.get(callId);
    if (existing) {
      existing.onRequest(req); // a re-INVITE, or the INVITE again
      return;
    }
    const localTag = token(4);
    const mode = phone.answerMode;
    const rtp = await startRtp(typeof mode === 'object' ? 1000 : 0);
    const provisional: number[] = [];
    const final = deferred<FinalResponse>();
    const ended = deferred<'local' | 'remote' | 'failed' | 'cancelled'>();
    const from = header(req, 'to').replace(/;tag=[^;>\s]*/i, '') + `;tag=${localTag}`; // we are the To of their INVITE
    const to = header(req, 'from');
    const remoteTarget = uriOf(header(req, 'contact'));
    let lastResponse: (() => void) | undefined;
    let state: 'ringing' | 'answered' | 'done' = 'ringing';
    let stop200 = (): void => undefined;
    let byeCause: number | undefined;
    let cseq = 1;

    const finish = (status: number, reason: string): void => {
      const send = (): void => sip.respond(req, status, reason, localTag);
      lastResponse = send;
      send();
      state = 'done';
      final.resolve({ status, reason });
    };

    byCallId.set(callId, {
      onRequest(r) {
        const method = r.startLine.split(' ')[0];
        if (method === 'INVITE') {
          if (tagOf(header(r, 'to'))) sip.respond(r, 200, 'OK', localTag, [`Contact: ${contact}`, 'Content-Type: application/sdp'], sdp(sip.host, rtp.port));
          else lastResponse?.(); // a retransmission of the first INVITE
        } else if (method === 'ACK') {
          stop200();
        } else if (method === 'CANCEL') {
          sip.respond(r, 200, 'OK', localTag);
          if (state === 'ringing') {
            finish(487, 'Request Terminated');
            ended.resolve('cancelled');
            void rtp.close();
          }
        } else if (method === 'BYE') {
          byeCause = causeOf(r);
          sip.respond(r, 200, 'OK', localTag);
          ended.resolve('remote');
          void rtp.close();
        } else {
          sip.respond(r, 200, 'OK', localTag);
        }
      },
    });

    const call: Call = {
      direction: 'in',
      callId,
      provisional,
      final: final.promise,
      ended: ended.promise,
      get byeCause() {
        return byeCause;
      },
      rtp,
      async hangup() {
        if (state === 'answered') {
          cseq++;
          await inDialog('BYE', remoteTarget, from, to, callId, cseq);
          ended.resolve('local');
          await rtp.close();
        } else if (state === 'ringing') {
          finish(603, 'Decline');
          ended.resolve('failed');
          await rtp.close();
        }
      },
    };
    calls.push(call);
    incoming.push(call);
    for (const w of incomingWaiters.splice(0)) w();

    sip.respond(req, 100, 'Trying', localTag);
    if (mode === 'busy') {
      finish(486, 'Busy Here');
      ended.resolve('failed');
      void rtp.close();
      return;
    }
    const ringing = (): void => sip.respond(req, 180, 'Ringing', localTag, [`Contact: ${contact}`]);
    lastResponse = ringing;
    ringing();
    provisional.push(180);
    if (mode === 'ring') return;
    setTimeout(() => {
      if (state !== 'ringing') return;
      state = 'answered';
      const target = sdpTarget(req.body);
      if (target) rtp.sendTo(target.host, target.port);
      const body = sdp(sip.host, rtp.port);
      const send = (): void => sip.respond(req, 200, 'OK', localTag, [`Contact: ${contact}`, 'Content-Type: application/sdp'], body);
      lastResponse = send;
      stop200 = retransmit(send);
      final.resolve({ status: 200, reason: 'OK' });
    }, mode.answer);
  }

  sip.onRequest('INVITE', (req) => void answerIncoming(req));
  for (const method of ['ACK', 'BYE', 'CANCEL', 'UPDATE', 'INFO']) {
    sip.onRequest(method, (req) => {
      const call = byCallId.get(header(req, 'call-id'));
      if (call) call.onRequest(req);
      else if (method !== 'ACK') sip.respond(req, 481, 'Call/Transaction Does Not Exist', token(4));
    });
  }
  return phone;
}
