// `websms dialplan install` and `websms dialplan check`.

import fs from 'node:fs';
import path from 'node:path';
import { InstallError, SHIPPED_DIALPLAN_DIR, installDialplan, type FileOutcome, type InstallResult } from '../dialplan/install.js';
import { parseArgs, UsageError } from './args.js';
import { EX_CANTCREAT, EX_FINDINGS, EX_NOINPUT, EX_SOFTWARE, EX_USAGE, exitCodes } from './exit.js';
import type { CommandContext } from './types.js';

const INSTALL_TEXT = `install  copies the Asterisk files shipped with websms (its dialplan/
         directory, except websms.conf: that one is websms's own configuration,
         see docs/configuration.md) into DIR (default /etc/asterisk), creating
         DIR if needed, and later upgrades them. A copy of what it installed is
         kept in DIR/.websms-shipped/ to tell your edits from ours:
           a file you did not edit is updated (the old one kept as
             <file>.websms-backup-<YYYYmmddTHHMMSS>);
           a file you edited is never overwritten: if our version changed, the
             new one is written beside it as <file>.websms-new and the
             difference is shown; merge it, then delete <file>.websms-new.
         --force replaces every file that differs from ours (with a backup).
         --dry-run says what would happen and writes nothing.
         Then it lists what is left to edit by hand.`;

const CHECK_TEXT = `check    checks the dialplan files in DIR (default: the dialplan shipped with
         websms; give /etc/asterisk to check the installed one) statically:
         every Goto, Gosub, include and wizard context, file and line.
         "websms doctor" asks the running Asterisk instead.`;

const INSTALL_EXITS: [number, string][] = [
  [0, 'done'],
  [1, 'a <file>.websms-new waits for you to merge it'],
  [64, 'usage error'],
  [70, 'the websms package is incomplete (its dialplan/ is missing)'],
  [73, 'DIR cannot be created or written (permission denied, DIR is a file, ...): each file is written whole or not at all'],
];

const CHECK_EXITS: [number, string][] = [
  [0, 'no errors (warnings allowed)'],
  [1, 'errors, listed with file and line'],
  [64, 'usage error'],
  [66, 'DIR does not exist or cannot be read'],
];

export const DIALPLAN_USAGE = `usage: websms dialplan install [--dest DIR] [--force] [--dry-run]
       websms dialplan check [DIR]

${INSTALL_TEXT}

${CHECK_TEXT}

"websms dialplan install --help" and "websms dialplan check --help" give each
one's exit codes.

${exitCodes([
  [0, 'help shown'],
  [64, 'usage error: no subcommand, or an unknown one'],
])}`;

const INSTALL_USAGE = `usage: websms dialplan install [--dest DIR] [--force] [--dry-run]

${INSTALL_TEXT}
  --dest DIR   where Asterisk reads its configuration (default /etc/asterisk)
  --force      replace every file that differs from ours (each old one is kept as a backup)
  --dry-run    say what would happen; write nothing

${exitCodes(INSTALL_EXITS)}`;

const CHECK_USAGE = `usage: websms dialplan check [DIR]

${CHECK_TEXT}

${exitCodes(CHECK_EXITS)}`;

const DEFAULT_DEST = '/etc/asterisk';

export async function dialplanCommand({ args }: CommandContext): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') {
    (sub === undefined ? process.stderr : process.stdout).write(DIALPLAN_USAGE);
    return sub === undefined ? EX_USAGE : 0;
  }
  try {
    if (sub === 'install') return install(rest);
    if (sub === 'check') return await check(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`websms dialplan ${sub}: ${err.message}\n\n${sub === 'install' ? INSTALL_USAGE : CHECK_USAGE}`);
      return EX_USAGE;
    }
    throw err;
  }
  process.stderr.write(`websms dialplan: unknown subcommand ${JSON.stringify(sub)}\n\n${DIALPLAN_USAGE}`);
  return EX_USAGE;
}

const LABEL: Record<FileOutcome['action'], [now: string, dry: string]> = {
  installed: ['installed', 'would be installed'],
  unchanged: ['unchanged', 'unchanged'],
  updated: ['updated to the new version (you had not edited it)', 'would be updated to the new version (you have not edited it)'],
  kept: ['has your edits; kept (our version has not changed since)', 'has your edits; would be kept (our version has not changed since)'],
  offered: ['has your edits; kept, and the new version written beside it', 'has your edits; would be kept, the new version written beside it'],
  replaced: ['replaced', 'would be replaced'],
};

/** Lines of a diff shown per file; the rest is a command away. */
const DIFF_LINES = 60;

function describe(f: FileOutcome, dry: 0 | 1): string {
  let line = `${f.dest}: ${LABEL[f.action][dry]}`;
  if (f.backup) line += ` (backup: ${f.backup})`;
  if (f.action === 'offered') line += `: ${f.newFile}`;
  if (f.action === 'kept' && f.newFile) line += `; ${f.newFile} is still there: merge it, then delete it`;
  if (f.removedNew) line += ` (${f.removedNew} ${dry ? 'would be' : 'was'} removed: no longer needed)`;
  return `${line}\n`;
}

/** What changed, for a file the user must merge: the diff, cut at DIFF_LINES. */
function showChanges(f: FileOutcome): string {
  const head =
    f.diffOf === 'shipped'
      ? `What websms changed in ${f.file} since the version you edited (carry this over into ${f.dest}):`
      : `How websms's ${f.file} differs from yours (no record of the version you started from):`;
  const lines = (f.diff ?? '').split('\n').filter((l, i, all) => l !== '' || i < all.length - 1);
  const shown = lines.slice(0, DIFF_LINES);
  let out = `\n${head}\n${shown.map((l) => `  ${l}`).join('\n')}\n`;
  if (lines.length > DIFF_LINES) {
    out += `  ... ${lines.length - DIFF_LINES} more line(s): diff -u ${f.dest} ${f.newFile}\n`;
  }
  return out;
}

function install(args: string[]): number {
  const o = parseArgs(args, { values: ['--dest'], flags: ['--force', '--dry-run', '--help'] });
  if (o.flags.has('--help')) {
    process.stdout.write(INSTALL_USAGE);
    return 0;
  }
  if (o.positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(o.positionals[0])}`);
  const dest = o.values['--dest'] ?? DEFAULT_DEST;
  let result: InstallResult;
  try {
    result = installDialplan({ dest, force: o.flags.has('--force'), dryRun: o.flags.has('--dry-run') });
  } catch (err) {
    if (!(err instanceof InstallError)) throw err;
    for (const f of err.written) process.stdout.write(describe(f, 0));
    process.stderr.write(`websms dialplan install: ${err.message}\n`);
    if (!err.internal) {
      process.stderr.write(err.written.length ? 'The files listed above were written; nothing else was changed.\n' : 'Nothing was changed.\n');
    }
    return err.internal ? EX_SOFTWARE : EX_CANTCREAT;
  }
  const dry = result.dryRun ? 1 : 0;
  if (result.dryRun) process.stdout.write(`dry run: nothing is written to ${result.dest}\n`);
  for (const f of result.files) process.stdout.write(describe(f, dry));
  for (const f of result.files) if (f.action === 'offered') process.stdout.write(showChanges(f));
  const d = result.dest;
  process.stdout.write(`
Still to do by hand:
  - ${path.join(d, 'pjsip_endpoint.conf')}: your trunk (the ITSP) and your users' endpoints
  - certificates for TLS/WSS in ${path.join(d, 'keys')}/
  - CONTRY_CODE in ${path.join(d, 'extensions_local.conf')}
  - the AMI secret in ${path.join(d, 'manager.conf')} ([websms] secret) must be the one in websms.conf ([ami] secret) or WEBSMS_AMI_SECRET
  - then load it: asterisk -rx 'core reload' (or asterisk -rx 'dialplan reload' for the dialplan alone;
    changed PJSIP transports need an Asterisk restart), and check with: websms doctor
  - websms's own configuration is not installed here: start from
    ${path.join(SHIPPED_DIALPLAN_DIR, 'websms.conf')} as /etc/websms/websms.conf (where the systemd unit reads it)
`);
  if (result.toMerge.length > 0) {
    const names = result.toMerge.map((f) => f.newFile!);
    process.stdout.write(
      `\n${names.length} file(s) of yours have a new version of websms's beside them to merge` +
        `${result.dryRun ? ' (after a real run)' : ''}:\n${names.map((n) => `  ${n}\n`).join('')}` +
        `Merge what you need into your file and delete the .websms-new file; then this command exits 0. ` +
        `Or take ours whole with --force (your file is kept as a backup).\n`,
    );
    return EX_FINDINGS;
  }
  return 0;
}

async function check(args: string[]): Promise<number> {
  const o = parseArgs(args, { flags: ['--help'] });
  if (o.flags.has('--help')) {
    process.stdout.write(CHECK_USAGE);
    return 0;
  }
  if (o.positionals.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(o.positionals[1])}`);
  const dir = path.resolve(o.positionals[0] ?? SHIPPED_DIALPLAN_DIR);
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (err) {
    process.stderr.write(`websms dialplan check: cannot read ${dir}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : (err as Error).message}\n`);
    return EX_NOINPUT;
  }
  if (!st.isDirectory()) {
    process.stderr.write(`websms dialplan check: ${dir} is not a directory\n`);
    return EX_NOINPUT;
  }
  // Loaded here only: the daemon and the other commands do not need the checker.
  const { checkDialplan, formatFindings } = await import('../dialplan/check.js');
  const findings = checkDialplan(dir);
  const text = formatFindings(findings);
  if (text) process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  const errors = findings.filter((f) => f.severity === 'error').length;
  const warnings = findings.length - errors;
  process.stdout.write(`${dir}: ${errors} error(s), ${warnings} warning(s)${errors ? '' : ': ok'}\n`);
  return errors > 0 ? EX_FINDINGS : 0;
}
