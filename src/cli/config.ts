// Reading the configuration for a command: problems are printed, all at once,
// and the command ends with EX_CONFIG.

import { loadConfig, resolveConfigPath } from '../config/load.js';
import type { Config } from '../config/types.js';
import { ConfigError, EX_CONFIG } from '../errors.js';

export type ConfigResult = { ok: true; config: Config } | { ok: false; code: number };

export function readConfig(argv: readonly string[], what = 'nothing was started'): ConfigResult {
  try {
    const { file, explicit } = resolveConfigPath(argv, process.env);
    return { ok: true, config: loadConfig({ file, env: process.env, explicit }) };
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`websms: the configuration has ${err.problems.length} problem(s); ${what}:\n`);
      for (const p of err.problems) process.stderr.write(`  ${p}\n`);
      return { ok: false, code: EX_CONFIG };
    }
    throw err;
  }
}

/** The configuration as read now, or its problems; prints nothing (a running daemon logs them). */
export function tryConfig(argv: readonly string[]): { ok: true; config: Config } | { ok: false; problems: string[] } {
  try {
    const { file, explicit } = resolveConfigPath(argv, process.env);
    return { ok: true, config: loadConfig({ file, env: process.env, explicit }) };
  } catch (err) {
    if (err instanceof ConfigError) return { ok: false, problems: err.problems };
    return { ok: false, problems: [(err as Error).message] };
  }
}
