// `websms version`: which websms this is.

import fs from 'node:fs';
import { parseCommand, printJson, out } from './command.js';
import { exitCodes } from './exit.js';
import type { CommandContext } from './types.js';

const USAGE = `usage: websms version [--json]

Prints the version of websms (also: websms --version).
  --json   {"version", "node"} for scripts

${exitCodes([
  [0, 'printed'],
  [64, 'usage error'],
])}`;

export function packageVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export async function versionCommand({ args }: CommandContext): Promise<number> {
  const p = parseCommand(args, { name: 'version', usage: USAGE, flags: ['--json'] });
  if (!p.ok) return p.code;
  if (p.json) printJson({ version: packageVersion(), node: process.version });
  else out(`websms ${packageVersion()}`);
  return 0;
}
