// `websms run`: the daemon, until SIGTERM or SIGINT.

import { startDaemon } from '../daemon.js';
import { createLogger } from '../log.js';
import { startWatchdog } from '../watchdog.js';
import { parseCommand } from './command.js';
import { readConfig, tryConfig } from './config.js';
import { exitCodes } from './exit.js';
import type { CommandContext } from './types.js';

const USAGE = `usage: websms [--config PATH] run

Runs the daemon in the foreground until SIGTERM or SIGINT: it takes ITSP
webhooks ([general] listen), hand-offs from the dialplan over FastAGI ([agi]
listen), and the management API ([api] listen), delivers texts into Asterisk
over AMI and sends texts through the ITSPs. It logs one line per event on
stderr. This is what "websms" with no command does, and what the systemd unit
runs. Check the configuration first with: websms check-config

${exitCodes([
  [0, 'stopped by SIGTERM or SIGINT'],
  [1, 'could not start (the reason is logged)'],
  [64, 'usage error'],
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
  let daemon;
  try {
    daemon = await startDaemon(config, log);
  } catch (err) {
    log.error({ err }, 'could not start');
    return 1;
  }
  // Only once it listens: a daemon that cannot start exits and is restarted anyway.
  const watchdog = startWatchdog(process.env, log);
  // SIGHUP (systemctl reload): read the file again; a configuration with
  // problems is refused and the running one stays.
  const onHangup = (): void => {
    const next = tryConfig(argv);
    if (!next.ok) {
      log.error({ problems: next.problems }, `configuration not reloaded: it has ${next.problems.length} problem(s); websms runs on with the previous one. Fix the file, check it with "websms check-config", and reload again`);
      return;
    }
    daemon.reload(next.config).catch((err: unknown) => log.error({ err }, 'reload failed; websms runs on with the previous configuration'));
  };
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
  await daemon.stop();
  watchdog?.stop();
  return 0;
}
