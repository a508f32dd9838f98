// `websms run`: the daemon, until SIGTERM or SIGINT.

import type { Config } from '../config/types.js';
import { startDaemon, type Daemon } from '../daemon.js';
import { tuneHeap } from '../heap.js';
import { createLogger, type Logger } from '../log.js';
import { databaseAnswers, DatabaseOpenError } from '../store/db.js';
import { connectSystemd } from '../systemd.js';
import { parseCommand } from './command.js';
import { readConfig, tryConfig } from './config.js';
import { EX_CANTCREAT, EX_UNAVAILABLE, exitCodes } from './exit.js';
import type { CommandContext } from './types.js';

/** How often STATUS= is brought up to date (sent only when it changed). */
const STATUS_EVERY_MS = 5000;

const USAGE = `usage: websms [--config PATH] run

Runs the daemon in the foreground until SIGTERM or SIGINT: it takes ITSP
webhooks ([general] listen), hand-offs from the dialplan over FastAGI ([agi]
listen), and the management API ([api] listen), delivers texts into Asterisk
over AMI and sends texts through the ITSPs. It logs one line per event on
stderr. This is what "websms" with no command does, and what the systemd unit
runs. SIGHUP reloads the configuration (a file with problems is refused and
logged; the running one stays). Check the configuration first with:
websms check-config

${exitCodes([
  [0, 'stopped by SIGTERM or SIGINT'],
  [1, 'could not start for another reason (logged)'],
  [64, 'usage error'],
  [69, 'a listen address is in use or not allowed (logged, with the setting to change)'],
  [73, 'the database cannot be created, opened or written (logged, with what to fix)'],
  [78, 'configuration errors (listed on stderr); nothing was started'],
])}`;

export async function runCommand({ args, argv }: CommandContext): Promise<number> {
  const p = parseCommand(args, { name: 'run', usage: USAGE });
  if (!p.ok) return p.code;
  const r = readConfig(argv);
  if (!r.ok) return r.code;
  const config = r.config;
  const log = createLogger(config.general.logLevel, {}, undefined, config.general.logFormat);
  log.info({ config: config.file ?? '(built-in defaults)' }, 'websms starting');
  // Until the daemon runs there is nothing to reload; without a handler SIGHUP would kill it.
  const hangupWhileStarting = (): void => log.warn({}, 'SIGHUP while starting: ignored; reload again once websms has started');
  process.on('SIGHUP', hangupWhileStarting);
  const systemd = connectSystemd(process.env, log);
  systemd.status('opening the database and listening');
  tuneHeap();
  let daemon: Daemon;
  try {
    daemon = await startDaemon(config, log);
  } catch (err) {
    const code = startFailure(err, config, log);
    systemd.close();
    return code;
  }
  // Only now: the database is open and every listener accepts connections.
  systemd.ready(statusLine(daemon, config));
  systemd.startWatchdog(databaseAnswers(daemon.db));
  let stopping = false;
  const refresh = (): void => {
    if (stopping) return;
    try {
      systemd.status(statusLine(daemon, config));
    } catch {
      // The database did not answer: the watchdog check says so, once.
    }
  };
  const statusTimer = systemd.enabled ? setInterval(refresh, STATUS_EVERY_MS).unref() : undefined;
  if (systemd.enabled) {
    daemon.ami.on('connected', refresh);
    daemon.ami.on('disconnected', refresh);
  }
  // SIGHUP (systemctl reload): read the file again; a configuration with
  // problems is refused and the running one stays. systemd hears RELOADING=1
  // first and READY=1 when it is over, whichever way it went.
  const onHangup = (): void => {
    systemd.reloading('reloading the configuration');
    const next = tryConfig(argv);
    if (!next.ok) {
      log.error({ problems: next.problems }, `configuration not reloaded: it has ${next.problems.length} problem(s); websms runs on with the previous one. Fix the file, check it with "websms check-config", and reload again`);
      systemd.ready(statusLine(daemon, config));
      return;
    }
    daemon
      .reload(next.config)
      .catch((err: unknown) => log.error({ err }, 'reload failed; websms runs on with the previous configuration'))
      .finally(() => systemd.ready(statusLine(daemon, config)));
  };
  process.off('SIGHUP', hangupWhileStarting);
  process.on('SIGHUP', onHangup);
  await new Promise<void>((resolve) => {
    const onSignal = (sig: NodeJS.Signals): void => {
      log.info({ signal: sig }, 'signal received');
      resolve();
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  process.off('SIGHUP', onHangup);
  // The stop is bounded (a few seconds): a second signal (Ctrl-C again, a
  // reload) must not kill the process halfway through it.
  const again = (sig: NodeJS.Signals): void => log.warn({ signal: sig }, 'already stopping: finishing the work under way, a few seconds at most');
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, again);
  stopping = true;
  clearInterval(statusTimer);
  systemd.stopping('stopping: finishing work under way');
  await daemon.stop();
  systemd.close();
  return 0;
}

/** One line for `systemctl status`: AMI, and what waits. */
export function statusLine(daemon: Pick<Daemon, 'ami' | 'store' | 'outbound'> & { email?: Pick<Daemon['email'], 'store'> }, config: Config): string {
  const ami = daemon.ami.connected ? 'AMI connected' : `waiting for AMI at ${config.ami.host}:${config.ami.port}`;
  const i = daemon.store.counts();
  const o = daemon.outbound.counts();
  const toPhones = i.queued + i.sending + i.waiting;
  const toItsp = o.queued + o.sending;
  // E-mails are named only while some wait: a mail server that is down shows here.
  const e = daemon.email?.store.counts();
  const mails = e === undefined ? 0 : e.queued + e.sending;
  return `${ami}; ${toPhones} text(s) queued for phones, ${toItsp} for ITSPs${mails > 0 ? `; ${mails} e-mail(s) waiting` : ''}`;
}

/**
 * Why websms could not start, in one log line, and the exit code that tells
 * systemd whether restarting can help (RestartPreventExitStatus= in the unit).
 */
function startFailure(err: unknown, config: Config, log: Logger): number {
  if (err instanceof DatabaseOpenError) {
    log.error({ database: err.file, reason: err.reason }, `cannot use the database, so websms cannot start: fix the path or its directory's owner and mode ([general] database; under systemd the unit's StateDirectory= makes /var/lib/websms), then start websms again`);
    return EX_CANTCREAT;
  }
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  if (e.syscall === 'listen' && (e.code === 'EADDRINUSE' || e.code === 'EACCES')) {
    const address = `${e.address ?? '?'}:${e.port ?? '?'}`;
    const setting = listenSetting(config, e.port);
    if (e.code === 'EADDRINUSE') {
      log.error({ address, setting }, `${address} (${setting}) is in use by another process, so websms cannot start: stop that process (ss -ltnp shows which) or choose another port in ${setting}`);
    } else {
      log.error({ address, setting }, `websms may not listen on ${address} (${setting}): ports below 1024 need privileges; choose a port above 1023 in ${setting}, or give the unit AmbientCapabilities=CAP_NET_BIND_SERVICE`);
    }
    return EX_UNAVAILABLE;
  }
  log.error({ err }, 'could not start');
  return 1;
}

/** The ini key(s) of the listener on this port. */
function listenSetting(config: Config, port: number | undefined): string {
  const keys = [
    ['[general] listen', config.general.listenPort],
    ['[agi] listen', config.agi.listenPort],
    ['[api] listen', config.api.listenPort],
  ]
    .filter(([, p]) => p === port)
    .map(([k]) => k);
  return keys.length > 0 ? keys.join(' / ') : 'a listen setting';
}

