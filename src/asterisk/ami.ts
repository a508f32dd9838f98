// Our typed layer over asterisk-manager: promises, a timeout on every action,
// reconnection with capped exponential backoff and jitter, keepalive pings, and
// a check of every header value before it reaches the wire.
//
// The library is used for framing and parsing only. Its own reconnect (fixed
// 10 s steps) is not used: each connection attempt gets a fresh instance.

import { EventEmitter } from 'node:events';
import AsteriskManager from 'asterisk-manager';
import { retryDelay } from '../backoff.js';
import { AmiError } from '../errors.js';
import type { Logger } from '../log.js';
import { checkHeader, checkVariable } from './encode.js';

/** An AMI message (response or event) with lower-case header names. */
export type AmiMessage = Record<string, string>;

export interface AmiAction {
  Action: string;
  Variable?: Record<string, string>;
  [header: string]: string | Record<string, string> | undefined;
}

export interface AmiOptions {
  host: string;
  port: number;
  username: string;
  secret: string;
  /** Event classes this session subscribes to. */
  events: string;
  actionTimeoutMs: number;
  pingIntervalMs: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  log: Logger;
}

export interface AmiClient {
  start(): void;
  stop(): Promise<void>;
  readonly connected: boolean;
  /** Sends an action; resolves with its Success response, rejects with AmiError. */
  action(a: AmiAction, timeoutMs?: number): Promise<AmiMessage>;
  on(ev: 'event', fn: (e: AmiMessage) => void): void;
  on(ev: 'connected' | 'disconnected', fn: () => void): void;
  off(ev: string, fn: (...args: any[]) => void): void;
}

interface Manager {
  connect(port: number, host: string, cb: () => void): void;
  login(cb: (err?: Record<string, string>) => void): void;
  action(a: Record<string, unknown>, cb: (err: AmiMessage | undefined, res: AmiMessage) => void): string;
  disconnect(cb?: () => void): void;
  on(ev: string, fn: (...args: any[]) => void): void;
  removeAllListeners(ev?: string): void;
  isConnected(): boolean;
}

type ManagerCtor = (port?: number, host?: string, user?: string, secret?: string, events?: boolean) => Manager;

export function createAmiClient(opts: AmiOptions): AmiClient {
  const emitter = new EventEmitter();
  const log = opts.log;
  let mgr: Manager | undefined;
  let ready = false;
  let stopped = true;
  let failures = 0;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let pingTimer: NodeJS.Timeout | undefined;
  let seq = 0;
  /** The reason last said at warn, so a new kind of failure is said too, and the same one once. */
  let warned: string | undefined;
  const pending = new Map<string, { reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  const where = `${opts.host}:${opts.port}`;

  // Never below reconnect_min, never in lock-step with other clients.
  const backoff = (): number => retryDelay(failures, opts.reconnectMinMs, opts.reconnectMaxMs);

  function connect(): void {
    reconnectTimer = undefined;
    if (stopped) return;
    const m = (AsteriskManager as unknown as ManagerCtor)(undefined, opts.host, opts.username, opts.secret, false);
    mgr = m;
    let closed = false;
    let tcpUp = false;
    // The socket's own error names the failure (ECONNREFUSED, EHOSTUNREACH, ...);
    // the close that follows it must not replace that with "connection closed".
    let socketError: string | undefined;
    const onClose = (): void => {
      if (closed || mgr !== m) return;
      closed = true;
      clearTimeout(handshake);
      lost(m, socketError ?? 'connection closed by Asterisk');
    };
    m.on('close', onClose);
    m.on('end', onClose);
    m.on('error', (err: Error) => {
      socketError ??= describeSocketError(err, opts.host, opts.port);
      log.debug({ err }, 'ami socket error');
      onClose();
    });
    // Neither connecting (a host that drops SYNs: minutes of the kernel's
    // retries) nor the login (a port that is not Asterisk's manager) may hang.
    const handshake = setTimeout(() => {
      if (mgr !== m || ready) return;
      teardown(
        m,
        tcpUp
          ? `ETIMEDOUT: ${where} accepted the connection but did not answer the login within ${opts.actionTimeoutMs} ms (is it Asterisk's manager port?)`
          : `ETIMEDOUT: no connection to ${where} within ${opts.actionTimeoutMs} ms (wrong host, or a firewall dropping it?)`,
      );
    }, opts.actionTimeoutMs);
    handshake.unref();
    m.on('managerevent', (e: Record<string, unknown>) => {
      if (mgr === m && ready) emitter.emit('event', flatten(e));
    });
    m.connect(opts.port, opts.host, () => {
      if (mgr !== m) return;
      tcpUp = true;
      m.login((err) => {
        if (mgr !== m) return;
        if (err) {
          clearTimeout(handshake);
          const hint = opts.secret === '' ? 'no [ami] secret is configured' : `check [ami] secret against the [${opts.username}] secret in manager.conf`;
          const said = err.message || 'no reason given';
          const why = `auth refused: Asterisk said "${said}" to the login of user ${opts.username}; ${hint}`;
          log.error({ host: opts.host, port: opts.port, username: opts.username, reason: said, hint }, 'ami login refused');
          failures = Math.max(failures, 4);
          warned = why;
          return teardown(m, why);
        }
        // The library's Login sends "Event: on|off", which Asterisk ignores; this
        // narrows the session to exactly the classes we need.
        sendRaw(m, { Action: 'Events', EventMask: opts.events }, opts.actionTimeoutMs)
          .then(() => {
            if (mgr !== m) return;
            clearTimeout(handshake);
            ready = true;
            failures = 0;
            warned = undefined;
            log.info({ host: opts.host, port: opts.port }, 'ami connected');
            schedulePing(m);
            emitter.emit('connected');
          })
          .catch((e: Error) => {
            log.warn({ err: e }, 'ami event subscription failed');
            teardown(m, 'event subscription failed');
          });
      });
    });
  }

  function schedulePing(m: Manager): void {
    clearTimeout(pingTimer);
    pingTimer = setTimeout(() => {
      if (mgr !== m || !ready) return;
      sendRaw(m, { Action: 'Ping' }, opts.actionTimeoutMs).then(
        () => schedulePing(m),
        (e: Error) => {
          log.warn({ err: e }, 'ami keepalive failed; reconnecting');
          teardown(m, 'keepalive failed');
        },
      );
    }, opts.pingIntervalMs);
    pingTimer.unref();
  }

  function teardown(m: Manager, why: string): void {
    try {
      m.disconnect();
    } catch {
      /* already gone */
    }
    lost(m, why);
  }

  function lost(m: Manager, why: string): void {
    if (mgr !== m) return;
    mgr = undefined;
    clearTimeout(pingTimer);
    const wasReady = ready;
    ready = false;
    m.removeAllListeners();
    m.on('error', () => {});
    for (const [id, p] of pending) {
      clearTimeout(p.timer);
      p.reject(new AmiError('ami_disconnected', `AMI connection lost before the answer to ${id}`));
    }
    pending.clear();
    if (wasReady) {
      log.warn({ reason: why }, 'ami disconnected');
      emitter.emit('disconnected');
    }
    if (stopped) return;
    // Said at warn once per outage and again when the reason changes, so an
    // operator sees why texts wait; the same failure again is debug.
    if (!wasReady && why !== warned) {
      warned = why;
      log.warn({ host: opts.host, port: opts.port, reason: why }, 'ami unreachable; retrying until Asterisk answers');
    }
    failures++;
    const delay = backoff();
    log.debug({ delayMs: delay, reason: why }, 'ami reconnect scheduled');
    reconnectTimer = setTimeout(connect, delay);
  }

  function sendRaw(m: Manager, a: AmiAction, timeoutMs: number): Promise<AmiMessage> {
    return new Promise((resolve, reject) => {
      let wire: Record<string, unknown>;
      let id: string;
      try {
        wire = toWire(a);
        id = typeof a.ActionID === 'string' ? checkHeader('ActionID', a.ActionID) : `websms-${process.pid}-${++seq}`;
      } catch (e) {
        return reject(e);
      }
      wire.actionid = id;
      const timer = setTimeout(() => {
        pending.delete(id);
        m.removeAllListeners(id);
        reject(new AmiError('ami_timeout', `no answer from Asterisk to ${a.Action} within ${timeoutMs} ms`));
        // Asterisk answers one action at a time per session: one that never
        // answers holds every later one too, so start a fresh session.
        log.warn({ action: a.Action, timeoutMs }, 'ami action timed out; reconnecting');
        teardown(m, 'action timed out');
      }, timeoutMs);
      pending.set(id, { reject, timer });
      m.action(wire, (err, res) => {
        if (!pending.delete(id)) return;
        clearTimeout(timer);
        if (err) {
          const msg = flatten(err);
          reject(new AmiError('ami_error', msg.message || `${a.Action} failed`, msg));
        } else resolve(flatten(res));
      });
    });
  }

  return {
    start() {
      if (!stopped) return;
      stopped = false;
      connect();
    },
    async stop() {
      stopped = true;
      clearTimeout(reconnectTimer);
      clearTimeout(pingTimer);
      const m = mgr;
      if (!m) return;
      if (ready) await sendRaw(m, { Action: 'Logoff' }, 1000).catch(() => undefined);
      teardown(m, 'stopped');
    },
    get connected() {
      return ready;
    },
    action(a, timeoutMs = opts.actionTimeoutMs) {
      const m = mgr;
      if (!m || !ready) return Promise.reject(new AmiError('ami_disconnected', 'not connected to Asterisk'));
      return sendRaw(m, a, timeoutMs);
    },
    on(ev: string, fn: (...args: any[]) => void) {
      emitter.on(ev, fn);
    },
    off(ev: string, fn: (...args: any[]) => void) {
      emitter.off(ev, fn);
    },
  };
}

const SOCKET_ERRORS: Record<string, (where: string, host: string) => string> = {
  ECONNREFUSED: (w) => `nothing accepts connections on ${w} (is Asterisk running, with enabled = yes in manager.conf?)`,
  ETIMEDOUT: (w) => `no answer from ${w} (wrong host, or a firewall dropping it?)`,
  EHOSTUNREACH: (_, h) => `no route to host ${h}`,
  ENETUNREACH: (_, h) => `no route to the network of ${h}`,
  ENOTFOUND: (_, h) => `the host name ${h} cannot be resolved`,
  EAI_AGAIN: (_, h) => `the host name ${h} cannot be resolved right now (DNS)`,
  ECONNRESET: (w) => `${w} reset the connection`,
  EPIPE: (w) => `${w} closed the connection while websms was writing`,
};

/** "ECONNREFUSED: nothing accepts connections on 127.0.0.1:5038 (...)": the code first, as the system names it. */
export function describeSocketError(err: Error, host: string, port: number): string {
  const code = (err as NodeJS.ErrnoException).code;
  const where = `${host}:${port}`;
  if (code !== undefined && Object.hasOwn(SOCKET_ERRORS, code)) return `${code}: ${SOCKET_ERRORS[code]!(where, host)}`;
  return code !== undefined ? `${code}: ${err.message}` : err.message;
}

/** Checks every value and shapes the action the way the library writes it. */
export function toWire(a: AmiAction): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(a)) {
    if (v === undefined) continue;
    if (k.toLowerCase() === 'actionid') continue;
    if (k === 'Variable' && typeof v === 'object') {
      const vars: Record<string, string> = {};
      for (const [n, val] of Object.entries(v)) {
        checkVariable(n, val);
        vars[n] = val;
      }
      out.variable = vars;
      continue;
    }
    if (typeof v !== 'string') throw new AmiError('ami_encoding', `AMI header ${k} must be a string`);
    out[k.toLowerCase()] = checkHeader(k, v);
  }
  return out;
}

function flatten(e: Record<string, unknown>): AmiMessage {
  const out: AmiMessage = {};
  for (const [k, v] of Object.entries(e)) {
    if (typeof v === 'string') out[k] = v;
    else if (Array.isArray(v)) out[k] = String(v[0]);
    else if (v !== undefined && v !== null && typeof v !== 'object') out[k] = String(v);
  }
  return out;
}

export interface ListResult {
  /** The first answer: Response: Success, EventList: start. */
  response: AmiMessage;
  /** The events of the list, in the order Asterisk sent them. */
  items: AmiMessage[];
  /** The closing event (EventList: Complete, ListItems: <n>). */
  complete: AmiMessage;
}

let listSeq = 0;

/**
 * Runs a list-style action (ShowDialPlan, PJSIPShowContacts, ...). Asterisk
 * answers "Response: Success" with "EventList: start", then one event per item
 * carrying the same ActionID, then `completeEvent`. Those events are part of
 * the answer (manager.c writes them with astman_append), so the session gets
 * them whatever its event mask and read permission. An error answer
 * ("Response: Error") rejects with AmiError('ami_error') as action() does;
 * no Complete event within timeoutMs rejects with AmiError('ami_timeout').
 */
export function listAction(ami: AmiClient, a: AmiAction, completeEvent: string, timeoutMs = 10_000): Promise<ListResult> {
  const id = typeof a.ActionID === 'string' ? a.ActionID : `websms-list-${process.pid}-${++listSeq}`;
  const want = completeEvent.toLowerCase();
  return new Promise((resolve, reject) => {
    const items: AmiMessage[] = [];
    let response: AmiMessage | undefined;
    let complete: AmiMessage | undefined;
    let done = false;
    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      ami.off('event', onEvent);
      ami.off('disconnected', onLost);
      if (err) reject(err);
      else resolve({ response: response!, items, complete: complete! });
    };
    // The library hands events on in order, and may do so before the response's
    // callback has run: collect from the start, finish when both are in.
    const onEvent = (e: AmiMessage): void => {
      if (e.actionid !== id) return;
      if ((e.event ?? '').toLowerCase() === want) {
        complete = e;
        if (response) finish();
      } else if (!complete) items.push(e);
    };
    const onLost = (): void => finish(new AmiError('ami_disconnected', `AMI connection lost before the end of the ${a.Action} list`));
    const timer = setTimeout(
      () => finish(new AmiError('ami_timeout', `no ${completeEvent} from Asterisk to ${a.Action} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    ami.on('event', onEvent);
    ami.on('disconnected', onLost);
    ami.action({ ...a, ActionID: id }, timeoutMs).then(
      (res) => {
        response = res;
        if (complete) finish();
      },
      (err: Error) => finish(err),
    );
  });
}
