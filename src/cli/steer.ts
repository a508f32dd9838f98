// `websms retry`, `websms cancel` and `websms purge`: they change texts, so
// they go through the running daemon's API and nowhere else.

import { parseTextId, type TextJson } from '../store/texts.js';
import { UsageError } from './args.js';
import { out, parseCommand, printJson, usageError } from './command.js';
import { readConfig } from './config.js';
import { exitCodes } from './exit.js';
import { ID_RULE, nextStep } from './text.js';
import { callDaemon } from './texts-source.js';
import type { CommandContext } from './types.js';
import { parseWhen } from './when.js';

const DAEMON_ONLY = 'The daemon must be running: this command never writes the database itself.';

const RETRY_USAGE = `usage: websms [--config PATH] retry ID [--json]

Queues the text ID (in-N or out-N) again through the running daemon, due
now, with a fresh count of attempts: a text that failed, expired, was
undeliverable or cancelled, or one waiting for its next attempt.
  --json   {"text": {...}} as the API answers
${DAEMON_ONLY}

${exitCodes([
  [0, 'queued again'],
  [64, 'usage error: no ID, or not in-N / out-N'],
  [65, 'the text cannot be retried: it is delivered, sent or being sent (the reason is printed)'],
  [66, 'no such text'],
  [69, 'the daemon does not answer; nothing was changed'],
  [77, 'the daemon refused the API token'],
  [78, 'configuration errors'],
])}`;

const CANCEL_USAGE = `usage: websms [--config PATH] cancel ID [--json]

Cancels the text ID (in-N or out-N) through the running daemon: a text that is
queued or waiting becomes cancelled and is never sent or delivered. A
cancelled text can be queued again with websms retry ID.
  --json   {"text": {...}} as the API answers
${DAEMON_ONLY}

${exitCodes([
  [0, 'cancelled'],
  [64, 'usage error: no ID, or not in-N / out-N'],
  [65, 'the text cannot be cancelled: it is being sent or already done (the reason is printed)'],
  [66, 'no such text'],
  [69, 'the daemon does not answer; nothing was changed'],
  [77, 'the daemon refused the API token'],
  [78, 'configuration errors'],
])}`;

const PURGE_USAGE = `usage: websms [--config PATH] purge --before WHEN [--json]

Deletes, through the running daemon, the texts that are finished (not queued,
sending or waiting) and were last changed before WHEN, with their events.
Texts still on their way are never deleted. Retention ([general] retention)
already removes the bodies of old texts; purge removes the texts themselves.
  --before WHEN   an age (90d: older than 90 days; 12h) or a date
                  (2024-05-01, 2024-05-01T14:00, local time)
  --json          {"removed": N, "before": ISO}
${DAEMON_ONLY}

${exitCodes([
  [0, 'done (also when nothing was old enough)'],
  [64, 'usage error: --before missing or not an age or date'],
  [65, 'the daemon refused the time'],
  [69, 'the daemon does not answer; nothing was deleted'],
  [77, 'the daemon refused the API token'],
  [78, 'configuration errors'],
])}`;

type Action = 'retry' | 'cancel';

export const retryCommand = (ctx: CommandContext): Promise<number> => steer(ctx, 'retry', RETRY_USAGE);
export const cancelCommand = (ctx: CommandContext): Promise<number> => steer(ctx, 'cancel', CANCEL_USAGE);

async function steer({ args, argv }: CommandContext, action: Action, usage: string): Promise<number> {
  const spec = { name: action, usage, flags: ['--json'], positionals: { min: 1, max: 1, names: 'the text ID (in-N or out-N)' } };
  const p = parseCommand(args, spec);
  if (!p.ok) return p.code;
  const id = p.opts.positionals[0]!;
  if (!parseTextId(id)) return usageError(spec, `"${id}" is not a text id: ${ID_RULE}`).code;
  const r = readConfig(argv, 'nothing was changed');
  if (!r.ok) return r.code;
  const res = await callDaemon<{ text: TextJson }>(r.config, action, `/api/texts/${encodeURIComponent(id)}/${action}`, { method: 'POST' }, p.json);
  if (!res.ok) return res.code;
  const t = res.value.text;
  if (p.json) {
    printJson(res.value);
    return 0;
  }
  if (action === 'retry') out(`${t.id} is queued again, due now (state ${t.state}, attempts ${t.attempts}).`);
  else out(`${t.id} is cancelled: it will not be ${t.direction === 'in' ? 'delivered' : 'sent'}.`);
  out(`next: ${action === 'retry' ? `follow it with websms status ${t.id}` : nextStep(t)}`);
  return 0;
}

export async function purgeCommand({ args, argv }: CommandContext): Promise<number> {
  const spec = { name: 'purge', usage: PURGE_USAGE, values: ['--before'], flags: ['--json'] };
  const p = parseCommand(args, spec);
  if (!p.ok) return p.code;
  const raw = p.opts.values['--before'];
  if (raw === undefined) return usageError(spec, '--before WHEN is required: purge never deletes everything by default').code;
  let before: number;
  try {
    before = parseWhen('--before', raw);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    return usageError(spec, e.message).code;
  }
  const r = readConfig(argv, 'nothing was deleted');
  if (!r.ok) return r.code;
  const iso = new Date(before).toISOString();
  const res = await callDaemon<{ removed: number }>(r.config, 'purge', '/api/purge', { method: 'POST', body: { before: iso } }, p.json);
  if (!res.ok) return res.code;
  if (p.json) {
    printJson({ removed: res.value.removed, before: iso });
    return 0;
  }
  out(`Deleted ${res.value.removed} finished text(s) last changed before ${new Date(before).toLocaleString()}.`);
  return 0;
}
