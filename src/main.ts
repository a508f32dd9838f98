#!/usr/bin/env node
// Entry point: read the configuration, then run the daemon or a CLI command.

import fs from 'node:fs';
import { loadConfig, resolveConfigPath, describeConfig } from './config/load.js';
import type { Config } from './config/types.js';
import { startDaemon } from './daemon.js';
import { ConfigError, EX_CONFIG, EX_USAGE } from './errors.js';
import { createLogger } from './log.js';

const USAGE = `usage: websms [--config PATH] [command]

commands:
  run            run the daemon (the default)
  check-config   validate the configuration, print it with secrets hidden, and exit
  help           this text

The configuration is read from --config PATH, else $WEBSMS_CONFIG, else ./websms.conf;
with no file the built-in defaults apply (see docs/configuration.md).
`;

function readConfig(argv: string[]): Config {
  const { file, explicit } = resolveConfigPath(argv, process.env);
  return loadConfig({ file, env: process.env, explicit });
}

async function main(argv: string[]): Promise<number> {
  const args = argv.filter((a, i) => !(a === '--config' || a.startsWith('--config=') || argv[i - 1] === '--config'));
  const command = args[0] ?? 'run';
  if (command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command === '--version' || command === 'version') {
    const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(`websms ${pkg.version}\n`);
    return 0;
  }
  if (command !== 'run' && command !== 'check-config') {
    process.stderr.write(`websms: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
    return EX_USAGE;
  }

  let config: Config;
  try {
    config = readConfig(argv);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`websms: the configuration has ${err.problems.length} problem(s); nothing was started:\n`);
      for (const p of err.problems) process.stderr.write(`  ${p}\n`);
      return EX_CONFIG;
    }
    throw err;
  }

  if (command === 'check-config') {
    process.stdout.write(`${JSON.stringify(describeConfig(config), null, 2)}\n`);
    return 0;
  }

  const log = createLogger(config.general.logLevel);
  log.info({ config: config.file ?? '(built-in defaults)' }, 'websms starting');
  let daemon;
  try {
    daemon = await startDaemon(config, log);
  } catch (err) {
    log.error({ err }, 'could not start');
    return 1;
  }
  await new Promise<void>((resolve) => {
    const onSignal = (sig: NodeJS.Signals): void => {
      log.info({ signal: sig }, 'signal received');
      resolve();
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  await daemon.stop();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`websms: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
