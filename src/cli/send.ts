// `websms send`: a text out through an ITSP, by way of the running daemon,
// which stores it before it answers and sends it with retries.

import type { TextJson } from '../store/texts.js';
import { out, parseCommand, printJson } from './command.js';
import { readConfig } from './config.js';
import { exitCodes } from './exit.js';
import { callDaemon } from './texts-source.js';
import type { CommandContext } from './types.js';

const USAGE = `usage: websms [--config PATH] send --to NUMBER --body TEXT [--from NUMBER]
                                 [--interface I] [--json]

Hands a text to the running daemon (its management API, [api] listen), which
checks it as it checks a phone's text (numbers to E.164, length, characters
the ITSP can carry), stores it, and only then answers; it then sends it
through the ITSP with retries. Follow it with websms status out-N.
  --to NUMBER      the recipient, as you would dial it
  --body TEXT      the text ("-" reads it from standard input)
  --from NUMBER    the sender; default: the interface's number (its "number =")
  --interface I    the interface (section name) to send through; default:
                   [general] default_interface
  --json           {"text": {...}} as the API answers

The daemon must be running: this command never writes the database itself.

${exitCodes([
  [0, 'stored by the daemon; it will be sent'],
  [64, 'usage error: --to or --body missing, an unknown option'],
  [65, 'refused by the daemon: a bad number, a text too long or with characters the ITSP cannot carry, an interface that cannot send (the reason is printed); nothing was stored'],
  [69, 'the daemon does not answer; nothing was stored'],
  [75, 'the daemon cannot store it right now; try again'],
  [77, 'the daemon refused the API token'],
  [78, 'configuration errors'],
])}`;

const SPEC = { name: 'send', usage: USAGE, values: ['--to', '--body', '--from', '--interface'], flags: ['--json'] };

export async function sendCommand({ args, argv }: CommandContext): Promise<number> {
  const p = parseCommand(args, SPEC);
  if (!p.ok) return p.code;
  const { values } = p.opts;
  const to = values['--to'];
  let body = values['--body'];
  if (to === undefined || body === undefined) {
    process.stderr.write(`websms send: ${to === undefined ? '--to NUMBER' : '--body TEXT'} is required\n\n${USAGE}`);
    return 64;
  }
  if (body === '-') body = await readStdin();
  const r = readConfig(argv, 'nothing was sent');
  if (!r.ok) return r.code;
  const request: Record<string, string> = { to, body };
  if (values['--from'] !== undefined) request.from = values['--from'];
  if (values['--interface'] !== undefined) request.interface = values['--interface'];
  const res = await callDaemon<{ text: TextJson }>(r.config, 'send', '/api/texts', { method: 'POST', body: request }, p.json);
  if (!res.ok) return res.code;
  const t = res.value.text;
  if (p.json) {
    printJson(res.value);
    return 0;
  }
  out(`Stored as ${t.id}: to ${t.to} from ${t.from} through ${t.interface}, ${t.parts} SMS segment(s); the daemon sends it now (state ${t.state}).`);
  out(`Follow it with: websms status ${t.id}`);
  return 0;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  // A trailing newline from echo or a heredoc is not part of the text.
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}
