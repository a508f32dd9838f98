// systemd's watchdog: how a hung websms gets killed and restarted.
//
// While websms's event loop is blocked, the kernel still accepts Asterisk's
// FastAGI connections, and no session deadline can fire: every hand-off
// waits, and Asterisk's one message queue with it. A process cannot notice
// that about itself, so systemd does (WatchdogSec= in systemd/websms.service):
// while the loop turns we tell it so every third of the watchdog interval,
// and when the keep-alives stop it kills websms and starts it again. The
// connections then fail at once and the dialplan tells the sender.
//
// Node cannot send to systemd's datagram socket itself, so each keep-alive
// runs systemd-notify (it waits until systemd has taken the message, so
// NotifyAccess=all attributes it to the unit even though it exits at once).

import { spawn } from 'node:child_process';
import type { Logger } from './log.js';

export interface Watchdog {
  /** How often a keep-alive is sent (ms). */
  everyMs: number;
  stop(): void;
}

/** A keep-alive that has not finished in this time is killed; the next one tries again. */
const NOTIFY_TIMEOUT_MS = 5000;

/**
 * Starts the keep-alives when systemd asked for them (WATCHDOG_USEC and
 * NOTIFY_SOCKET set, and WATCHDOG_PID, when set, naming this process);
 * otherwise does nothing and returns undefined.
 */
export function startWatchdog(env: NodeJS.ProcessEnv, log: Logger): Watchdog | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.NOTIFY_SOCKET || !Number.isFinite(usec) || usec <= 0) return undefined;
  // Set for another process: inherited from a parent that systemd watches, not ours to keep alive.
  if (env.WATCHDOG_PID !== undefined && env.WATCHDOG_PID !== '' && env.WATCHDOG_PID !== String(process.pid)) return undefined;

  const everyMs = Math.max(50, Math.floor(usec / 1000 / 3));
  let busy = false;
  let warned = false;
  const ping = (): void => {
    if (busy) return;
    busy = true;
    // Only what it needs: the daemon's environment holds secrets.
    const child = spawn('systemd-notify', ['WATCHDOG=1'], {
      stdio: 'ignore',
      timeout: NOTIFY_TIMEOUT_MS,
      env: { PATH: env.PATH, NOTIFY_SOCKET: env.NOTIFY_SOCKET },
    });
    const done = (problem?: string): void => {
      busy = false;
      if (problem !== undefined && !warned) {
        warned = true;
        log.warn({ problem }, 'could not send the systemd watchdog keep-alive, so systemd will restart websms when WatchdogSec= runs out; install systemd-notify (Debian package systemd) or remove WatchdogSec= from the unit');
      }
    };
    child.once('error', (err) => done(err.message));
    child.once('exit', (code, signal) => (code === 0 ? done() : done(signal ? `systemd-notify killed by ${signal}` : `systemd-notify exited ${code}`)));
  };
  ping();
  const timer = setInterval(ping, everyMs);
  timer.unref();
  log.info({ everyMs, watchdogMs: Math.round(usec / 1000) }, 'systemd watchdog keep-alives on');
  return {
    everyMs,
    stop: () => clearInterval(timer),
  };
}
