// `websms providers`: the provider profiles an interface can name, and what a
// user of each writes in the interface section.

import { PROVIDERS } from '../config/schema.js';
import { PROVIDER_NAMES, adapterFor, providerList } from '../../providers/index.js';
import { out, parseCommand, printJson } from './command.js';
import { exitCodes } from './exit.js';
import { table } from './table.js';
import type { CommandContext } from './types.js';

const USAGE = `usage: websms providers [NAME] [--json]

Lists the ITSP provider profiles this websms knows: the values of an interface's
"provider =" key, what each expects, and whether "websms doctor" can check its
credentials without sending a text. With NAME, the settings to fill in for
that provider: the key, what to copy from the provider's console, whether it
is required, and whether it is a secret (better kept in the environment).
Everything else is the profile's default ("websms check-config" shows them).
  --json   {"providers": [{"name", "description", "credentialsCheck",
           "settings": [{"key", "doc", "secret", "required"}]}]}

${exitCodes([
  [0, 'listed'],
  [64, 'usage error, or an unknown provider name'],
  [70, 'the configuration schema and the adapters disagree (a broken package)'],
])}`;

export async function providersCommand({ args }: CommandContext): Promise<number> {
  const p = parseCommand(args, { name: 'providers', usage: USAGE, flags: ['--json'], positionals: { min: 0, max: 1 } });
  if (!p.ok) return p.code;
  // The schema accepts PROVIDERS; the adapters implement PROVIDER_NAMES. They must be the same list.
  const missing = PROVIDERS.filter((n) => !PROVIDER_NAMES.includes(n));
  if (missing.length > 0) {
    process.stderr.write(`websms providers: no adapter for ${missing.join(', ')}: this websms package is broken; reinstall it\n`);
    return 70;
  }
  let list = providerList().map((x) => ({ ...x, credentialsCheck: adapterFor(x.name).checkCredentials !== undefined }));
  const only = p.opts.positionals[0];
  if (only !== undefined) {
    list = list.filter((x) => x.name === only);
    if (list.length === 0) {
      process.stderr.write(`websms providers: no provider "${only}"; known: ${PROVIDER_NAMES.join(', ')}\n`);
      return 64;
    }
  }
  if (p.json) {
    printJson({ providers: list });
    return 0;
  }
  if (only === undefined) {
    out(table(['PROVIDER', 'CREDENTIALS CHECK', 'DESCRIPTION'], list.map((x) => [x.name, x.credentialsCheck ? 'yes' : 'no', x.description])));
    out();
    out('Use one in an interface section of websms.conf: provider = <name> (docs/providers.md).');
    out('What to fill in for one: websms providers <name>');
    return 0;
  }
  const x = list[0]!;
  out(`${x.name}: ${x.description}`);
  out();
  if (x.settings.length === 0) out('No settings of its own: see docs/configuration.md.');
  else {
    out(table(['KEY', 'REQUIRED', 'SECRET', 'WHAT TO COPY'], x.settings.map((s) => [s.key, s.required ? 'yes' : 'no', s.secret ? 'yes' : 'no', s.doc])));
    const secrets = x.settings.filter((s) => s.secret).map((s) => `WEBSMS_<INTERFACE>_${s.key.toUpperCase()}`);
    if (secrets.length > 0) {
      out();
      out(`Secrets are better kept in the environment: ${secrets.join(', ')}.`);
    }
  }
  out();
  out(`In websms.conf:  [myitsp]  provider = ${x.name}  plus the keys above (docs/providers.md has a worked example).`);
  return 0;
}
