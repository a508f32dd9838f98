// `websms check-config`: the configuration as websms.conf spells it, secrets
// hidden, where each value comes from, and the warnings the daemon would log
// at start (the same list: src/config/warnings.ts).

import type { Config, SectionSettings, Setting } from '../config/types.js';
import { configWarnings } from '../config/warnings.js';
import { out, parseCommand, printJson } from './command.js';
import { redactorFor } from '../redact.js';
import { readConfig } from './config.js';
import { exitCodes } from './exit.js';
import type { CommandContext } from './types.js';

const USAGE = `usage: websms [--config PATH] check-config [--json]

Reads the configuration as the daemon would (--config PATH, else
$WEBSMS_CONFIG, else ./websms.conf, else the built-in defaults), and prints
every key of every section as you would write it in websms.conf, marked with
where its value comes from (the file and line, an environment variable, the
default of the interface's provider profile, PrivateDial's minivm.conf for
[email]'s SMTP server, or websms's default). Secrets (AMI secret, API token, interface passwords and tokens) are
shown only as (set) or (not set). Then the warnings the daemon would log at
start: no AMI secret, the default country code, outbound sending off, ...
  --json   {"file", "sections": {section: {key: value}}, "sources":
           {section: {key: "file"|"env"|"profile"|"minivm"|"default"}}, "interfaces": [names],
           "warnings": [{"code", "message"}]}

${exitCodes([
  [0, 'the configuration is valid (it may still have warnings)'],
  [64, 'usage error, or --config without a path'],
  [78, 'configuration errors, all listed on stderr with file and line'],
])}`;

export async function checkConfigCommand({ args, argv }: CommandContext): Promise<number> {
  const p = parseCommand(args, { name: 'check-config', usage: USAGE, flags: ['--json'] });
  if (!p.ok) return p.code;
  const r = readConfig(argv, 'fix them and run websms check-config again');
  if (!r.ok) return r.code;
  const config = r.config;
  const warnings = configWarnings(config);
  // Secret keys are "(set)" already; a credential in a URL's query or a
  // credential-like send_extra (src/redact.ts) is hidden the same way.
  const redact = redactorFor(config);
  const sections = (config.settings ?? []).map((sec) => ({
    ...sec,
    keys: Object.fromEntries(Object.entries(sec.keys).map(([k, v]) => [k, { ...v, value: redact(v.value) }])),
  }));
  if (p.json) {
    printJson({
      file: config.file ?? null,
      sections: Object.fromEntries(sections.map((s) => [s.name, Object.fromEntries(Object.entries(s.keys).map(([k, v]) => [k, v.value]))])),
      sources: Object.fromEntries(sections.map((s) => [s.name, Object.fromEntries(Object.entries(s.keys).map(([k, v]) => [k, v.source]))])),
      interfaces: config.interfaces.map((i) => i.name),
      ...(config.format === undefined ? {} : { format: config.format }),
      warnings: warnings.map((w) => ({ code: w.code, message: w.message, ...(w.iface ? { interface: w.iface } : {}) })),
    });
    return 0;
  }
  printIni(config, sections);
  out();
  const where = config.file ?? 'the built-in defaults (no configuration file)';
  if (warnings.length === 0) out(`; ${where}: valid, no warnings.`);
  else {
    out(`; ${where}: valid, with ${warnings.length} warning(s) the daemon will also log at start:`);
    for (const w of warnings) out(`;   warning: ${w.message}`);
  }
  return 0;
}

function printIni(config: Config, sections: SectionSettings[]): void {
  out(`; websms check-config: ${config.file ?? 'built-in defaults'}; secrets hidden`);
  if (config.format === 'privatedial') {
    out('; read as PrivateDial\'s PHP WebSMS websms.conf: each key says which PHP key it comes from;');
    out('; "websms config convert FILE" prints it as websms\'s own configuration');
  }
  for (const s of sections) {
    out();
    out(`[${s.name}]`);
    const profile = `; default of provider ${s.keys.provider?.value ?? ''}`;
    const note = (v: Setting): string =>
      v.source === 'file' ? `; line ${v.line}${v.from === undefined ? '' : `: ${v.from}`}`
        : v.source === 'env' ? `; from ${v.env}`
          : v.source === 'profile' ? profile
            : v.source === 'minivm' ? `; from ${v.from ?? 'minivm.conf'}`
              : '; default';
    const rows = Object.entries(s.keys).map(([k, v]) => [`${k} = ${v.value}`.trimEnd(), note(v)] as const);
    const width = Math.min(48, Math.max(...rows.map(([l]) => l.length)) + 2);
    for (const [line, note] of rows) out(`${line.length >= width ? `${line} ` : line.padEnd(width)}${note}`);
  }
}
