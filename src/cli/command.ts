// What every subcommand does the same way: --help on stdout with exit 0, a
// usage error on stderr with exit 64, --json for scripts.

import { parseArgs, UsageError, type OptionSpec, type Parsed } from './args.js';
import { EX_USAGE } from './exit.js';

export interface CommandSpec extends OptionSpec {
  /** As typed: "queue", "dialplan install". */
  name: string;
  usage: string;
  /** How many positional arguments it takes. */
  positionals?: { min: number; max: number; names?: string };
}

export type ParseResult = { ok: true; opts: Parsed; json: boolean } | { ok: false; code: number };

export function parseCommand(args: readonly string[], spec: CommandSpec): ParseResult {
  const flags = [...(spec.flags ?? []), '--help'];
  try {
    const opts = parseArgs(args, { values: spec.values, flags });
    if (opts.flags.has('--help')) return help(spec);
    const p = spec.positionals ?? { min: 0, max: 0 };
    if (opts.positionals.length > p.max) throw new UsageError(`unexpected argument ${JSON.stringify(opts.positionals[p.max])}`);
    if (opts.positionals.length < p.min) throw new UsageError(`missing ${p.names ?? 'argument'}`);
    return { ok: true, opts, json: opts.flags.has('--json') };
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    return usageError(spec, err.message);
  }
}

function help(spec: CommandSpec): ParseResult {
  process.stdout.write(spec.usage);
  return { ok: false, code: 0 };
}

/** Prints "websms NAME: message", then the usage, on stderr; returns the result for exit 64. */
export function usageError(spec: Pick<CommandSpec, 'name' | 'usage'>, message: string): { ok: false; code: number } {
  process.stderr.write(`websms ${spec.name}: ${message}\n\n${spec.usage}`);
  return { ok: false, code: EX_USAGE };
}

export const out = (line = ''): void => void process.stdout.write(`${line}\n`);
export const err = (line = ''): void => void process.stderr.write(`${line}\n`);
export const printJson = (value: unknown): void => void process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
