// Telling systemd how websms is doing (sd_notify): READY=1 once it serves,
// STATUS= lines for `systemctl status`, RELOADING=1/READY=1 around a reload,
// STOPPING=1, and the watchdog keep-alives.
//
// The messages are datagrams on the AF_UNIX socket named by NOTIFY_SOCKET.
// Node's dgram module has no AF_UNIX, so they go through unix-dgram (a small
// native addon) from websms's own process: systemd checks the sender's pid,
// and the unit's NotifyAccess=main accepts nothing else. No process is
// spawned per message.
//
// The watchdog: while websms's event loop is blocked, the kernel still accepts
// Asterisk's FastAGI connections and no deadline can fire, so every hand-off
// waits, and Asterisk's message queue with it. A process cannot notice that
// about itself, so systemd does (WatchdogSec= in systemd/websms.service): every
// third of the interval, if the loop turned and the database answered, we say
// so; when the keep-alives stop systemd kills websms and starts it again.

import { createRequire } from 'node:module';
import type { Logger } from './log.js';

export interface Systemd {
  /** Whether a service manager asked for notifications (NOTIFY_SOCKET set). */
  readonly enabled: boolean;
  /** The keep-alive interval (ms) once startWatchdog has started them, else undefined. */
  readonly watchdogEveryMs: number | undefined;
  /** READY=1: the database is open and every listener accepts connections. */
  ready(status?: string): void;
  /** STATUS=: one line for `systemctl status`; repeated lines are not sent again. */
  status(text: string): void;
  /** RELOADING=1: a reload begins; call ready() when it is done (or refused). */
  reloading(status?: string): void;
  /** STOPPING=1: shutting down; also stops the keep-alives. */
  stopping(status?: string): void;
  /**
   * Sends WATCHDOG=1 every third of WATCHDOG_USEC, each time only if alive()
   * returns true (it runs a query, so it throws or returns false when the
   * database does not answer). Does nothing unless systemd asked for it.
   */
  startWatchdog(alive: () => boolean): void;
  /** Stops the keep-alives and closes the socket. */
  close(): void;
}

interface DgramSocket {
  send(buf: Buffer, offset: number, length: number, path: string, cb: (err?: Error) => void): void;
  close(): void;
}

const require = createRequire(import.meta.url);

/** One name=value per line, as sd_notify(3) wants; newlines in a value would start a new field. */
function message(fields: Record<string, string>): Buffer {
  return Buffer.from(
    Object.entries(fields)
      .map(([k, v]) => `${k}=${v.replace(/[\r\n]+/g, ' ')}`)
      .join('\n'),
  );
}

/** CLOCK_MONOTONIC in microseconds (Node's hrtime reads that clock on Linux), for RELOADING=1. */
function monotonicUsec(): string {
  return String(process.hrtime.bigint() / 1000n);
}

export function connectSystemd(env: NodeJS.ProcessEnv, log: Logger): Systemd {
  const path = env.NOTIFY_SOCKET ?? '';
  let socket: DgramSocket | undefined;
  let warned = false;
  const problem = (reason: string): void => {
    if (warned) return;
    warned = true;
    log.warn({ socket: path, reason }, 'cannot notify systemd, so a Type=notify unit never becomes active and its watchdog restarts websms; check NOTIFY_SOCKET, or use Type=simple without WatchdogSec= where systemd cannot be told');
  };
  if (path.startsWith('@')) problem('abstract NOTIFY_SOCKET addresses are not supported (systemd uses a path for services)');
  else if (path !== '') {
    try {
      const dgram = require('unix-dgram') as { createSocket(type: 'unix_dgram'): DgramSocket };
      socket = dgram.createSocket('unix_dgram');
    } catch (err) {
      problem(`the unix-dgram module did not load (${(err as Error).message}); reinstall websms with python3, make and g++ present`);
    }
  }

  const send = (fields: Record<string, string>): void => {
    if (!socket) return;
    const buf = message(fields);
    socket.send(buf, 0, buf.length, path, (err) => {
      if (err) problem(err.message);
    });
  };

  let lastStatus: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let everyMs: number | undefined;
  const statusField = (status: string | undefined): Record<string, string> => {
    if (status === undefined) return {};
    lastStatus = status;
    return { STATUS: status };
  };
  const stopWatchdog = (): void => {
    if (timer !== undefined) clearInterval(timer);
    timer = undefined;
  };

  return {
    get enabled() {
      return socket !== undefined;
    },
    get watchdogEveryMs() {
      return timer === undefined ? undefined : everyMs;
    },
    ready: (status) => send({ READY: '1', ...statusField(status) }),
    status(text) {
      if (text === lastStatus) return;
      send(statusField(text));
    },
    reloading: (status) => send({ RELOADING: '1', MONOTONIC_USEC: monotonicUsec(), ...statusField(status) }),
    stopping(status) {
      stopWatchdog();
      send({ STOPPING: '1', ...statusField(status) });
    },
    startWatchdog(alive) {
      const usec = Number(env.WATCHDOG_USEC);
      if (!socket || !Number.isFinite(usec) || usec <= 0 || timer !== undefined) return;
      // Set for another process: inherited from a parent that systemd watches, not ours to keep alive.
      if (env.WATCHDOG_PID !== undefined && env.WATCHDOG_PID !== '' && env.WATCHDOG_PID !== String(process.pid)) return;
      everyMs = Math.max(50, Math.floor(usec / 1000 / 3));
      let failing = false;
      const tick = (): void => {
        let ok: boolean;
        let reason = 'the database check returned false';
        try {
          ok = alive();
        } catch (err) {
          ok = false;
          reason = (err as Error).message;
        }
        if (ok) {
          if (failing) log.info({}, 'database answers again; watchdog keep-alives resumed');
          failing = false;
          send({ WATCHDOG: '1' });
        } else if (!failing) {
          failing = true;
          log.error({ reason }, 'the database does not answer; watchdog keep-alives withheld, so systemd restarts websms if this lasts');
        }
      };
      tick();
      timer = setInterval(tick, everyMs);
      timer.unref();
      log.info({ everyMs, watchdogMs: Math.round(usec / 1000) }, 'systemd watchdog keep-alives on');
    },
    close() {
      stopWatchdog();
      socket?.close();
      socket = undefined;
    },
  };
}
