#!/usr/bin/env node
// Entry point: a table of commands; each lives in src/cli/.

import fs from 'node:fs';
import type { Command } from './cli/types.js';
import { EX_USAGE } from './errors.js';

const USAGE = `usage: websms [--config PATH] [command]

commands:
  run                  run the daemon (the default)
  check-config         validate the configuration, print it with secrets hidden, and exit
  doctor               log in to Asterisk's AMI and check that the dialplan websms
                       relies on is loaded
  dialplan install [--dest DIR] [--force] [--dry-run]
                       copy the dialplan shipped with websms into DIR (/etc/asterisk),
                       never overwriting your changes without --force (a backup is kept)
  dialplan check [DIR] check dialplan files (default: the shipped ones), file and line
  version              the version of websms
  help                 this text ("websms dialplan --help", "websms doctor --help": more)

exit codes:
  0   success
  1   a check found problems: dialplan check found errors, doctor found missing
      contexts, dialplan install kept files you changed (use --force)
  64  usage error (unknown command or option)
  66  dialplan check: the directory cannot be read
  69  doctor: AMI cannot be reached, or refused the login
  70  the websms package is incomplete (its dialplan/ is missing)
  73  dialplan install: the destination cannot be written (nothing half-written)
  78  configuration errors (listed on stderr)

The configuration is read from --config PATH, else $WEBSMS_CONFIG, else ./websms.conf;
with no file the built-in defaults apply (see docs/configuration.md).
`;

const help: Command = async () => {
  process.stdout.write(USAGE);
  return 0;
};

const version: Command = async () => {
  const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  process.stdout.write(`websms ${pkg.version}\n`);
  return 0;
};

// Each command's module is loaded when it runs: `websms dialplan install` does
// not load the daemon (express, SQLite, ...).
const COMMANDS: Record<string, Command> = {
  run: async (ctx) => (await import('./cli/run.js')).runCommand(ctx),
  'check-config': async (ctx) => (await import('./cli/run.js')).checkConfigCommand(ctx),
  doctor: async (ctx) => (await import('./cli/doctor.js')).doctorCommand(ctx),
  dialplan: async (ctx) => (await import('./cli/dialplan.js')).dialplanCommand(ctx),
  help,
  '--help': help,
  '-h': help,
  version,
  '--version': version,
};

/** The arguments without --config PATH / --config=PATH (read by the commands that load the configuration). */
function withoutConfig(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (a === '--config') i++;
    else if (!a.startsWith('--config=')) out.push(a);
  }
  return out;
}

async function main(argv: string[]): Promise<number> {
  const [name = 'run', ...args] = withoutConfig(argv);
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    process.stderr.write(`websms: unknown command ${JSON.stringify(name)}\n\n${USAGE}`);
    return EX_USAGE;
  }
  return command({ args, argv });
}

// Exit explicitly once a command is done: a peer that never closes its end of
// a socket (a hung Asterisk after our FIN) must not keep the process alive, and
// systemd must not have to SIGKILL a daemon that has already stopped cleanly.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`websms: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
