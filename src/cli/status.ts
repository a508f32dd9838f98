// `websms status ID`: one text, with its attempts and delivery reports.

import { eventJson, parseTextId, textJson, type TextEventJson, type TextJson } from '../store/texts.js';
import type { ApiTarget } from './api-client.js';
import { apiRequest } from './api-client.js';
import { err, out, parseCommand, printJson, usageError } from './command.js';
import { readConfig } from './config.js';
import { EX_NOINPUT, exitCodes } from './exit.js';
import { textBlock } from './text-format.js';
import { ID_RULE } from './text.js';
import { failure, readTexts } from './texts-source.js';
import type { CommandContext } from './types.js';

const USAGE = `usage: websms [--config PATH] status ID [--json]

Shows one text: ID is in-N (a text from an ITSP to a phone) or out-N (a text
from a phone, or websms send, to an ITSP), as listed by websms queue and
websms history. Shows its state and the reason, who it is from and to, its
attempts and next attempt, and its events (attempts, outcomes, delivery
reports, retries, cancels), then what you can do about it. Asks the running
daemon; when it does not run, reads the database read-only.
  --json   {"text": {...}, "events": [...]}, as the API's GET /api/texts/ID

${exitCodes([
  [0, 'shown'],
  [64, 'usage error: no ID, or not in-N / out-N'],
  [66, 'no such text; without the daemon also: no database yet, or one made by an older websms (starting the daemon once updates it) or a newer one'],
  [69, 'the daemon does not answer and the database cannot be read either'],
  [74, 'the database cannot be read'],
  [77, 'the daemon refused the API token'],
  [78, 'configuration errors'],
])}`;

const SPEC = { name: 'status', usage: USAGE, flags: ['--json'], positionals: { min: 1, max: 1, names: 'the text ID (in-N or out-N)' } };

export async function statusCommand({ args, argv }: CommandContext): Promise<number> {
  const p = parseCommand(args, SPEC);
  if (!p.ok) return p.code;
  const id = p.opts.positionals[0]!;
  const parsed = parseTextId(id);
  if (!parsed) return usageError(SPEC, `"${id}" is not a text id: ${ID_RULE}`).code;
  const r = readConfig(argv, 'nothing was read');
  if (!r.ok) return r.code;
  try {
    const read = await readTexts<{ text: TextJson; events: TextEventJson[] } | undefined>(
      r.config,
      (t: ApiTarget) => apiRequest<{ text: TextJson; events: TextEventJson[] }>(t, `/api/texts/${encodeURIComponent(id)}`),
      (texts) => {
        const text = texts.get(parsed.direction, parsed.rowId);
        return text && { text: textJson(text), events: texts.events(parsed.direction, parsed.rowId).map(eventJson) };
      },
    );
    if (!read.value) {
      if (p.json) printJson({ error: { code: 'not_found', reason: `no text ${id}` } });
      err(`websms status: no text ${id} in ${r.config.general.database}; websms history lists the texts there are`);
      return EX_NOINPUT;
    }
    const { text, events } = read.value;
    if (p.json) printJson({ text, events });
    else out(textBlock(text, events));
    return 0;
  } catch (e) {
    return failure(e, 'status', p.json);
  }
}
