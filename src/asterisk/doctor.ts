// Is the dialplan websms relies on loaded in the running Asterisk? One AMI
// ShowDialPlan per context. Used by `websms doctor` and, once, by the daemon
// when AMI first connects (a warning per missing context, never a failure).

import type { Config } from '../config/types.js';
import { AmiError } from '../errors.js';
import type { Logger } from '../log.js';
import { listAction, type AmiClient } from './ami.js';

export interface RequiredContext {
  name: string;
  /** What websms uses it for, and where its name comes from. */
  role: string;
}

/** The contexts websms needs, answer and text context from [ami] first; duplicates removed. */
export function requiredContexts(config: Pick<Config, 'ami'>): RequiredContext[] {
  const list: RequiredContext[] = [
    { name: config.ami.answerContext, role: 'answer context ([ami] answer_context): answers the Local channel of each inbound text' },
    { name: config.ami.textContext, role: 'text context ([ami] text_context): delivers each inbound text' },
    { name: 'dp_entry_text_inout', role: "message_context of the users' endpoints: texts from phones start here" },
    { name: 'dp_lookup', role: 'number lookup (hints), included by the entry contexts' },
    { name: 'sub_decode_body', role: 'subroutine: decodes the body websms sends' },
    { name: 'sub_text_term', role: "subroutine: delivers a text to the user's phones and reports to websms" },
    { name: 'sub_text_trunk', role: 'subroutine: hands a text from a phone to websms over FastAGI' },
  ];
  const seen = new Set<string>();
  return list.filter((c) => !seen.has(c.name) && seen.add(c.name));
}

/** ShowDialPlan needs one of these write classes (pbx.c: EVENT_FLAG_CONFIG | EVENT_FLAG_REPORTING). */
export const SHOWDIALPLAN_PERMISSION = 'reporting';

export type ContextStatus =
  | { context: RequiredContext; state: 'present'; items: number }
  | { context: RequiredContext; state: 'missing' }
  | { context: RequiredContext; state: 'error'; reason: string };

export interface DialplanReport {
  contexts: ContextStatus[];
  /** The AMI user may not run ShowDialPlan: nothing could be checked. */
  permissionDenied: boolean;
  missing: RequiredContext[];
}

/** Asks Asterisk for each context, one after the other. Rejects only when the AMI session is lost. */
export async function checkContexts(ami: AmiClient, contexts: RequiredContext[], timeoutMs = 10_000): Promise<DialplanReport> {
  const out: ContextStatus[] = [];
  for (const context of contexts) {
    try {
      const r = await listAction(ami, { Action: 'ShowDialPlan', Context: context.name }, 'ShowDialPlanComplete', timeoutMs);
      out.push({ context, state: 'present', items: r.items.length });
    } catch (err) {
      if (!(err instanceof AmiError) || err.code !== 'ami_error') throw err;
      const message = err.response?.message ?? err.message;
      if (/^permission denied/i.test(message)) return { contexts: out, permissionDenied: true, missing: [] };
      if (/^did not find context/i.test(message)) out.push({ context, state: 'missing' });
      else out.push({ context, state: 'error', reason: message });
    }
  }
  return { contexts: out, permissionDenied: false, missing: out.filter((c) => c.state === 'missing').map((c) => c.context) };
}

export function permissionAdvice(username: string): string {
  return (
    `the AMI user "${username}" may not run ShowDialPlan: add "${SHOWDIALPLAN_PERMISSION}" to its write classes in manager.conf ` +
    `([${username}] write = originate,${SHOWDIALPLAN_PERMISSION}), then asterisk -rx 'manager reload'`
  );
}

/**
 * Checks the dialplan once, the first time AMI connects: one warning per
 * missing context. Never fails the daemon.
 */
export function checkDialplanOnFirstConnect(ami: AmiClient, config: Pick<Config, 'ami'>, log: Logger): void {
  const onConnected = (): void => {
    ami.off('connected', onConnected);
    checkContexts(ami, requiredContexts(config), config.ami.actionTimeoutMs).then(
      (report) => {
        if (report.permissionDenied) {
          log.warn({ username: config.ami.username }, `cannot check the dialplan: ${permissionAdvice(config.ami.username)}`);
          return;
        }
        for (const c of report.missing) {
          log.warn({ context: c.name, role: c.role }, `dialplan context ${c.name} is not loaded in Asterisk; texts that need it will fail (websms dialplan install, then asterisk -rx 'dialplan reload')`);
        }
        for (const c of report.contexts) {
          if (c.state === 'error') log.warn({ context: c.context.name, reason: c.reason }, 'could not check a dialplan context');
        }
        if (report.missing.length === 0) log.info({ contexts: report.contexts.length }, 'dialplan contexts present');
      },
      (err: unknown) => log.warn({ err }, 'could not check the dialplan'),
    );
  };
  ami.on('connected', onConnected);
}
