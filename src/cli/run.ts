// `websms run`: the daemon, until SIGTERM or SIGINT.

import { describeConfig } from '../config/load.js';
import { startDaemon } from '../daemon.js';
import { EX_USAGE } from '../errors.js';
import { createLogger } from '../log.js';
import { startWatchdog } from '../watchdog.js';
import { readConfig, tryConfig } from './config.js';
import type { CommandContext } from './types.js';

export async function runCommand({ args, argv }: CommandContext): Promise<number> {
  if (args.length > 0) {
    process.stderr.write(`websms run: unexpected argument ${JSON.stringify(args[0])}\n`);
    return EX_USAGE;
  }
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

export async function checkConfigCommand({ args, argv }: CommandContext): Promise<number> {
  if (args.length > 0) {
    process.stderr.write(`websms check-config: unexpected argument ${JSON.stringify(args[0])}\n`);
    return EX_USAGE;
  }
  const r = readConfig(argv);
  if (!r.ok) return r.code;
  process.stdout.write(`${JSON.stringify(describeConfig(r.config), null, 2)}\n`);
  return 0;
}
