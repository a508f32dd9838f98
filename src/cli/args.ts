// A small option parser for the subcommands: --flag, --opt VALUE, --opt=VALUE,
// positionals; "--" ends the options. Unknown options are usage errors.

export class UsageError extends Error {}

export interface OptionSpec {
  /** Options that take a value. */
  values?: string[];
  /** Options without a value. */
  flags?: string[];
}

export interface Parsed {
  values: Record<string, string>;
  flags: Set<string>;
  positionals: string[];
}

export function parseArgs(args: readonly string[], spec: OptionSpec): Parsed {
  const values: Record<string, string> = {};
  const flags = new Set<string>();
  const positionals: string[] = [];
  const takesValue = new Set(spec.values ?? []);
  const isFlag = new Set(spec.flags ?? []);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      positionals.push(...args.slice(i + 1));
      break;
    }
    // -h is the one short option: --help, wherever --help is known.
    if (arg === '-h' && isFlag.has('--help')) {
      flags.add('--help');
      continue;
    }
    if (!arg.startsWith('--') || arg === '-') {
      if (arg.startsWith('-') && arg !== '-') throw new UsageError(`unknown option ${arg}`);
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg : arg.slice(0, eq);
    if (takesValue.has(name)) {
      const value = eq < 0 ? args[++i] : arg.slice(eq + 1);
      if (value === undefined || value === '' || (eq < 0 && value.startsWith('--'))) throw new UsageError(`${name} needs a value`);
      values[name] = value;
    } else if (isFlag.has(name)) {
      if (eq >= 0) throw new UsageError(`${name} takes no value`);
      flags.add(name);
    } else throw new UsageError(`unknown option ${name}`);
  }
  return { values, flags, positionals };
}
