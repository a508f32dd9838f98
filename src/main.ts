#!/usr/bin/env node
// Entry point: a table of commands; each lives in src/cli/.

import type { Command } from './cli/types.js';
import { exitCodes } from './cli/exit.js';
import { EX_USAGE } from './errors.js';

interface Entry {
  /** As shown in the list, with its arguments. */
  synopsis: string;
  summary: string;
  run: Command;
}

// Each command's module is loaded when it runs: `websms dialplan install` does
// not load the daemon (express, SQLite, ...).
const COMMANDS: Record<string, Entry> = {
  run: {
    synopsis: 'run',
    summary: 'run the daemon (the default)',
    run: async (ctx) => (await import('./cli/run.js')).runCommand(ctx),
  },
  send: {
    synopsis: 'send --to N --body TEXT',
    summary: 'send a text through the running daemon ([--from N] [--interface I])',
    run: async (ctx) => (await import('./cli/send.js')).sendCommand(ctx),
  },
  status: {
    synopsis: 'status ID',
    summary: 'one text (in-N or out-N): its state, attempts and events',
    run: async (ctx) => (await import('./cli/status.js')).statusCommand(ctx),
  },
  queue: {
    synopsis: 'queue',
    summary: 'texts not done yet ([--direction in|out] [--state S] [--interface I])',
    run: async (ctx) => (await import('./cli/list.js')).queueCommand(ctx),
  },
  history: {
    synopsis: 'history [NUMBER]',
    summary: 'texts newest first, all or to/from NUMBER ([--since WHEN])',
    run: async (ctx) => (await import('./cli/list.js')).historyCommand(ctx),
  },
  retry: {
    synopsis: 'retry ID',
    summary: 'queue a failed, expired, cancelled or waiting text again, due now',
    run: async (ctx) => (await import('./cli/steer.js')).retryCommand(ctx),
  },
  cancel: {
    synopsis: 'cancel ID',
    summary: 'stop a queued or waiting text: it is never sent or delivered',
    run: async (ctx) => (await import('./cli/steer.js')).cancelCommand(ctx),
  },
  purge: {
    synopsis: 'purge --before WHEN',
    summary: 'delete finished texts last changed before WHEN (a date, or an age such as 90d)',
    run: async (ctx) => (await import('./cli/steer.js')).purgeCommand(ctx),
  },
  email: {
    synopsis: 'email',
    summary: 'texts by e-mail: users, SMTP server, replies, the outbox and its last error',
    run: async (ctx) => (await import('./cli/email.js')).emailCommand(ctx),
  },
  providers: {
    synopsis: 'providers',
    summary: 'the ITSP provider profiles an interface can name (provider = ...)',
    run: async (ctx) => (await import('./cli/providers.js')).providersCommand(ctx),
  },
  'check-config': {
    synopsis: 'check-config',
    summary: 'validate the configuration, print it with secrets hidden, and its warnings',
    run: async (ctx) => (await import('./cli/check-config.js')).checkConfigCommand(ctx),
  },
  config: {
    synopsis: 'config convert FILE',
    summary: "print PrivateDial's PHP WebSMS websms.conf FILE as websms's own configuration",
    run: async (ctx) => (await import('./cli/config-convert.js')).configCommand(ctx),
  },
  doctor: {
    synopsis: 'doctor',
    summary: 'check configuration, database, AMI, FastAGI, dialplan and ITSP credentials',
    run: async (ctx) => (await import('./cli/doctor.js')).doctorCommand(ctx),
  },
  dialplan: {
    synopsis: 'dialplan install|check',
    summary: 'install the PrivateDial dialplan into /etc/asterisk, or check dialplan files',
    run: async (ctx) => (await import('./cli/dialplan.js')).dialplanCommand(ctx),
  },
  'voicemail-mail': {
    synopsis: 'voicemail-mail',
    summary: "MiniVM's mail command: store a voicemail e-mail from standard input, then delete its recording",
    run: async (ctx) => (await import('./cli/voicemail-mail.js')).voicemailMailCommand(ctx),
  },
  'web-password': {
    synopsis: 'web-password',
    summary: 'the hash of a password for the web page ([web] password)',
    run: async (ctx) => (await import('./cli/web-password.js')).webPasswordCommand(ctx),
  },
  version: {
    synopsis: 'version',
    summary: 'the version of websms',
    run: async (ctx) => (await import('./cli/version.js')).versionCommand(ctx),
  },
  help: {
    synopsis: 'help [COMMAND]',
    summary: 'this text, or the help of COMMAND (as "websms COMMAND --help")',
    run: async (ctx) => help(ctx.args),
  },
};

const ALIASES: Record<string, string> = { '--help': 'help', '-h': 'help', '--version': 'version' };

function usage(): string {
  const width = Math.max(...Object.values(COMMANDS).map((c) => c.synopsis.length)) + 2;
  const list = Object.values(COMMANDS)
    .map((c) => `  ${c.synopsis.padEnd(width)}${c.summary}`)
    .join('\n');
  return `usage: websms [--config PATH] COMMAND [OPTIONS]

commands:
${list}

Every command takes --help; the ones that print texts or findings take --json.

The configuration is read from --config PATH, else $WEBSMS_CONFIG, else
./websms.conf; with no file the built-in defaults apply (docs/configuration.md).
send, retry, cancel and purge ask the running daemon over its management API
([api] listen; token from [api] token or $WEBSMS_API_TOKEN; $WEBSMS_API_URL
overrides the address) and never write the database themselves. status, queue
and history ask the daemon too, and read the database directly when it is not
running.

${exitCodes([
  [0, 'success'],
  [1, 'a check found problems (doctor, dialplan check), dialplan install kept files you changed, or web-password was interrupted'],
  [64, 'usage error: unknown command or option, a missing or bad argument'],
  [65, 'the daemon refused the request: a bad number or text, or a text in a state that does not allow it'],
  [66, 'no such text, database or directory'],
  [69, 'the daemon (for send, retry, cancel, purge) or Asterisk (for doctor) does not answer'],
  [70, 'internal error: the package is incomplete, or the daemon gave an unexpected answer'],
  [73, 'dialplan install: the destination cannot be written'],
  [74, 'the database cannot be read'],
  [75, 'the daemon cannot do it right now: try again'],
  [77, 'the daemon refused the API token'],
  [78, 'configuration errors (listed on stderr)'],
])}`;
}

async function help(args: string[]): Promise<number> {
  const [name] = args;
  if (name !== undefined) {
    const entry = lookup(name);
    if (entry && entry !== COMMANDS.help) return entry.run({ args: ['--help'], argv: ['--help'] });
    if (!entry) {
      process.stderr.write(`websms help: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
      return EX_USAGE;
    }
  }
  process.stdout.write(usage());
  return 0;
}

function lookup(name: string): Entry | undefined {
  const real = Object.hasOwn(ALIASES, name) ? ALIASES[name]! : name;
  return Object.hasOwn(COMMANDS, real) ? COMMANDS[real] : undefined;
}

/**
 * The arguments without --config PATH / --config=PATH (read by the commands
 * that load the configuration); undefined when --config has no path.
 */
function withoutConfig(argv: string[]): string[] | undefined {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (a === '--config') {
      const value = argv[++i];
      if (value === undefined || value === '' || value.startsWith('-')) return undefined;
    } else if (a.startsWith('--config=')) {
      if (a === '--config=') return undefined;
    } else out.push(a);
  }
  return out;
}

async function main(argv: string[]): Promise<number> {
  const args = withoutConfig(argv);
  if (args === undefined) {
    process.stderr.write('websms: --config needs a file path, as in --config /etc/websms/websms.conf (websms --help: usage)\n');
    return EX_USAGE;
  }
  const [name = 'run', ...rest] = args;
  const entry = lookup(name);
  if (!entry) {
    process.stderr.write(`websms: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    return EX_USAGE;
  }
  return entry.run({ args: rest, argv });
}

// Exit explicitly once a command is done: a peer that never closes its end of
// a socket (a hung Asterisk after our FIN) must not keep the process alive, and
// systemd must not have to SIGKILL a daemon that has already stopped cleanly.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`websms: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(70);
  },
);
