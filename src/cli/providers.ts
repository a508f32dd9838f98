// `websms providers`: the provider profiles an interface can name.

import { PROVIDERS } from '../config/schema.js';
import { PROVIDER_NAMES, adapterFor, providerList } from '../../providers/index.js';
import { out, parseCommand, printJson } from './command.js';
import { exitCodes } from './exit.js';
import { table } from './table.js';
import type { CommandContext } from './types.js';

const USAGE = `usage: websms providers [--json]

Lists the ITSP provider profiles this websms knows: the values of an interface's
"provider =" key, what each expects, and whether "websms doctor" can check its
credentials without sending a text.
  --json   {"providers": [{"name", "description", "credentialsCheck"}]}

${exitCodes([
  [0, 'listed'],
  [64, 'usage error'],
  [70, 'the configuration schema and the adapters disagree (a broken package)'],
])}`;

export async function providersCommand({ args }: CommandContext): Promise<number> {
  const p = parseCommand(args, { name: 'providers', usage: USAGE, flags: ['--json'] });
  if (!p.ok) return p.code;
  // The schema accepts PROVIDERS; the adapters implement PROVIDER_NAMES. They must be the same list.
  const missing = PROVIDERS.filter((n) => !PROVIDER_NAMES.includes(n));
  if (missing.length > 0) {
    process.stderr.write(`websms providers: no adapter for ${missing.join(', ')}: this websms package is broken; reinstall it\n`);
    return 70;
  }
  const list = providerList().map((p) => ({ ...p, credentialsCheck: adapterFor(p.name).checkCredentials !== undefined }));
  if (p.json) {
    printJson({ providers: list });
    return 0;
  }
  out(table(['PROVIDER', 'CREDENTIALS CHECK', 'DESCRIPTION'], list.map((x) => [x.name, x.credentialsCheck ? 'yes' : 'no', x.description])));
  out();
  out('Use one in an interface section of websms.conf: provider = <name> (docs/configuration.md).');
  return 0;
}
