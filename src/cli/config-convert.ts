// `websms config convert FILE`: PrivateDial's PHP WebSMS websms.conf as websms's
// own configuration, on stdout. websms reads the PHP file as it is; this is for
// whoever wants to move to the native keys (and their comments) for good.

import fs from 'node:fs';
import { renderNativeConfig } from '../config/convert.js';
import { parseIni } from '../config/ini.js';
import { loadConfig } from '../config/load.js';
import { isPrivateDial, translatePrivateDial } from '../config/privatedial.js';
import { ConfigError } from '../errors.js';
import { err, parseCommand, usageError } from './command.js';
import { EX_CONFIG, EX_DATAERR, EX_NOINPUT, exitCodes } from './exit.js';
import type { CommandContext } from './types.js';

const USAGE = `usage: websms config convert FILE [--secrets]

Reads FILE, a websms.conf written for PrivateDial's PHP WebSMS ([websms],
[websmsd] and [astqueue] sections, /etc/asterisk/websms.conf in its
container), and prints the same configuration in websms's own keys on stdout:
one section per interface, [general] and [ami], each key with a comment naming
the PHP key it comes from, and on top what websms does differently or does
not need. websms also reads FILE as it is (websms --config FILE); loaded, the
printed file gives the same configuration.

Secrets (auth_secret) are left out, with the environment variable that
supplies each one (WEBSMS_<INTERFACE>_SEND_PASSWORD, ...), to put in
/etc/websms/websms.env. Environment variables already set count when FILE is
checked, as they do for the daemon.
  --secrets   write the secrets into the output instead

  websms config convert /etc/asterisk/websms.conf > /etc/websms/websms.conf

${exitCodes([
  [0, 'printed'],
  [64, 'usage error'],
  [65, 'FILE is not in PrivateDial\'s format (it has no [websms], [websmsd] or [astqueue] section)'],
  [66, 'FILE does not exist or cannot be read'],
  [78, 'FILE has configuration errors, all listed on stderr with their line'],
])}`;

export const CONFIG_USAGE = `usage: websms config convert FILE [--secrets]

  convert   print PrivateDial's PHP WebSMS websms.conf FILE as websms's own
            configuration ("websms config convert --help" for more)

${exitCodes([
  [0, 'help shown'],
  [64, 'usage error: no subcommand, or an unknown one'],
])}`;

export async function configCommand({ args }: CommandContext): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === '--help' || sub === '-h') {
    process.stdout.write(CONFIG_USAGE);
    return 0;
  }
  if (sub !== 'convert') return usageError({ name: 'config', usage: CONFIG_USAGE }, sub === undefined ? 'missing subcommand' : `unknown subcommand "${sub}"`).code;
  return convert(rest);
}

async function convert(args: string[]): Promise<number> {
  const p = parseCommand(args, { name: 'config convert', usage: USAGE, flags: ['--secrets'], positionals: { min: 1, max: 1, names: 'FILE' } });
  if (!p.ok) return p.code;
  const file = p.opts.positionals[0]!;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    err(`websms config convert: cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
    return EX_NOINPUT;
  }
  const doc = parseIni(text);
  if (!isPrivateDial(doc)) {
    err(`websms config convert: ${file} is not PrivateDial's WebSMS websms.conf: it has no [websms], [websmsd] or [astqueue] section of the PHP version`);
    err('A websms.conf written for websms needs no converting; "websms check-config" shows it.');
    return EX_DATAERR;
  }
  // The same checks as the daemon's, so that what is printed loads.
  try {
    loadConfig({ file, env: process.env, explicit: true });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    err(`websms config convert: ${file} has ${e.problems.length} problem(s); nothing was printed:`);
    for (const line of e.problems) err(`  ${line}`);
    return EX_CONFIG;
  }
  process.stdout.write(renderNativeConfig(translatePrivateDial(doc), { source: file, secrets: p.opts.flags.has('--secrets') }));
  return 0;
}
