// Delivers stored inbound texts into Asterisk: one AMI Originate per SIP message
// part into the text context, then waits for the dialplan's UserEvent report.
//
//   DELIVERED    -> next part, or the text is delivered (also "Repeat: yes":
//                   the dialplan had delivered it before and did not send it again)
//   NO_CONTACTS  -> waits; due again when the endpoint registers or on a backoff timer
//   FAILED       -> undeliverable, with the dialplan's reason
//   BUSY         -> another hand-off of the same part held the dialplan's lock; tried again later
//   Originate Response: Error / OriginateResponse Failure -> undeliverable
//   no report in time, AMI trouble -> tried again later (never dropped)
//   AMI connection lost -> every text in flight is handed over again as soon as
//                   it is back
// Handing a part over again is safe: the dialplan records each part it
// delivered (WEBSMS_RECORD, src/inbound/record.ts) and reports one it finds
// recorded without showing it again.

import type { AmiClient, AmiMessage } from '../asterisk/ami.js';
import { encodeBody, splitForDelivery } from '../asterisk/encode.js';
import { retryDelay as backoff } from '../backoff.js';
import { AmiError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { inboundAgeFrom, type InboundRow, type InboundStore } from '../store/inbound.js';
import { deliveryRecord } from './record.js';
import type { AmiConfig } from '../config/types.js';

export interface Deliverer {
  start(): void;
  stop(): void;
  /**
   * Takes no new texts and waits, at most timeoutMs, for the reports of the
   * texts in flight (so a stop does not leave them to be delivered again);
   * resolves with how many are still in flight.
   */
  drain(timeoutMs: number): Promise<number>;
  /** Something changed (a new text, a registration): look for due work now. */
  kick(): void;
  inFlight(): number;
}

interface InFlight {
  row: InboundRow;
  part: number;
  actionId: string;
  timer: NodeJS.Timeout;
  /** Its outcome is known and waits for its commit: it keeps its slot (and drain() waits for it) until then. */
  settling?: true;
}

/** How soon a text due but not sent (AMI down, too many in flight) is looked at again. */
const HELD_RESCAN_MS = 250;

/** Originate hang-up causes as OriginateResponse reports them in Reason:. */
const ORIGINATE_REASONS: Record<string, string> = {
  '0': 'the answering context did not answer (unknown number or no device)',
  '1': 'hung up before answering',
  '3': 'ringing timed out',
  '5': 'busy',
  '8': 'congestion',
};

export function createDeliverer(deps: {
  store: InboundStore;
  ami: AmiClient;
  config: AmiConfig;
  log: Logger;
  metrics?: Pick<Metrics, 'retries'>;
  /** Settles the media of a text taken while they were still being fetched (its hold time is over): src/media/. */
  media?: { settle(row: InboundRow, now: number): InboundRow };
  now?: () => number;
}): Deliverer {
  const { store, ami, config, log } = deps;
  const now = deps.now ?? Date.now;
  const inflight = new Map<string, InFlight>(); // keyed by WEBSMS_ID "<id>.<part>"
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let scanning = false;
  let again = false;

  const retried = (row: InboundRow): void => deps.metrics?.retries.inc({ direction: 'in', interface: row.interface });
  const retryDelay = (attempts: number): number => backoff(attempts, config.retryMinMs, config.retryMaxMs);

  function scan(): void {
    if (!running) return;
    if (scanning) {
      again = true;
      return;
    }
    scanning = true;
    // The due time read last, when nothing was taken after it: arm() needs no second read.
    let known: { next: number | undefined } | undefined;
    try {
      do {
        again = false;
        if (!ami.connected) break;
        const free = config.maxInFlight - inflight.size;
        if (free <= 0) break;
        const t = now();
        // Most scans under load (one after each group commit) find every head
        // busy or not yet due: one read of the heads' due index tells, where a
        // claim is a transaction of its own even when it takes nothing.
        const due = store.nextDueAt();
        if (due === undefined || due > t) {
          known = { next: due };
          break;
        }
        for (const claimed of store.claimDue(t, free)) {
          // A text with media is due once they are fetched, or once it has waited its hold time for them.
          const row = claimed.media_due !== null && deps.media ? deps.media.settle(claimed, t) : claimed;
          if (inboundAgeFrom(row) + config.maxAgeMs < t) {
            store.fail(row.id, 'expired', 'not delivered within the maximum age', t);
            log.warn({ id: row.id, to: row.recipient, ageMs: t - inboundAgeFrom(row) }, 'inbound text expired');
            continue;
          }
          send(row);
        }
      } while (again);
    } catch (err) {
      log.error({ err }, 'inbound delivery scan failed');
    } finally {
      scanning = false;
    }
    arm(known ? known.next : store.nextDueAt());
  }

  /**
   * Wakes up when the next text falls due (bounded so that expiry and clock
   * changes are noticed). A text due already but not sent (AMI down, as many
   * in flight as allowed, a failed scan) is looked at again after a short
   * pause; AMI's reconnection, each outcome and each new text start a scan
   * sooner.
   */
  function arm(next: number | undefined): void {
    clearTimeout(timer);
    if (!running) return;
    const t = now();
    timer = setTimeout(scan, next === undefined ? 60_000 : next > t ? Math.min(60_000, next - t) : HELD_RESCAN_MS);
    timer.unref();
  }

  function send(row: InboundRow): void {
    const part = row.parts_done + 1;
    const actionId = `websms-in-${row.id}-${part}-${row.attempts}`;
    // Links to its pictures (or notes that they could not be fetched) go after the words.
    const pieces = splitForDelivery((row.body ?? '') + (row.body === null ? '' : row.media_note ?? ''), config.partBytes);
    const text = pieces[part - 1] ?? '';
    const websmsId = `${row.id}.${part}`;
    const entry: InFlight = {
      row,
      part,
      actionId,
      timer: setTimeout(() => noReport(websmsId), config.reportTimeoutMs),
    };
    entry.timer.unref();
    inflight.set(websmsId, entry);
    let variables: Record<string, string>;
    try {
      variables = {
        'MESSAGE(to)': row.recipient,
        'MESSAGE(from)': row.sender,
        WEBSMS_ID: websmsId,
        WEBSMS_INTERFACE: row.interface,
        ...deliveryRecord(row, part, config.maxAgeMs),
        ...encodeBody(text),
      };
    } catch (err) {
      return settle(websmsId, () => store.fail(row.id, 'undeliverable', (err as Error).message, now()));
    }
    log.debug({ id: row.id, part, parts: row.parts, to: row.recipient, attempt: row.attempts }, 'originating');
    ami
      .action({
        Action: 'Originate',
        ActionID: actionId,
        Channel: `Local/${row.recipient}@${config.answerContext}`,
        Context: config.textContext,
        Exten: row.recipient,
        Priority: '1',
        Async: 'true',
        Variable: variables,
      })
      .then(
        () => undefined,
        (err: AmiError) => {
          if (!inflight.has(websmsId)) return;
          const msg = err.response?.message ?? err.message;
          if (err.code === 'ami_error' && !/permission denied/i.test(msg)) {
            log.warn({ id: row.id, to: row.recipient, reason: msg }, 'originate refused; text undeliverable');
            settle(websmsId, () => store.fail(row.id, 'undeliverable', `Asterisk refused the delivery: ${msg}`, now()));
          } else {
            if (err.code === 'ami_error') log.error({ reason: msg }, 'AMI user may not originate; check manager.conf');
            else log.info({ id: row.id, reason: msg }, 'originate not confirmed; will try again');
            retried(row);
            settle(websmsId, () => store.retry(row.id, msg, now() + retryDelay(row.attempts), now()));
          }
        },
      );
  }

  /**
   * Records an outcome in the store's next group commit (src/store/inbound.ts
   * alongside): the outcomes of every report that arrives in one turn,
   * and the webhooks' texts of that turn, share one transaction and one
   * fsync, where each report used to take a synchronous commit of its own.
   * Nothing is done on an outcome before it is committed: `then` (its log
   * line) runs after the commit, and the texts it frees (the next of its
   * conversation, its slot) are taken by the scan after that. Until then the
   * text keeps its slot, and a crash leaves it 'sending', to be delivered
   * again at the next start, as a crash before a synchronous commit did.
   */
  function settle<T>(websmsId: string, update: () => T, then?: (result: T) => void): void {
    const e = inflight.get(websmsId);
    // A second report for a part whose outcome is being committed is written
    // behind it (the store's updates check the state they change), and does
    // not free the slot.
    const owner = e !== undefined && e.settling === undefined ? e : undefined;
    if (owner) {
      clearTimeout(owner.timer);
      owner.settling = true;
    }
    store
      // The turn's webhooks, if any, commit at its end; else it commits by itself at the next turn.
      .alongside(update, 0)
      .then(then)
      // Also catches a throw from `then`: nothing in this chain may become an unhandled rejection.
      .catch((err: unknown) => log.error({ err, websmsId }, 'could not record a delivery outcome'))
      .finally(() => {
        if (owner && inflight.get(websmsId) === owner) inflight.delete(websmsId);
        scanSoon();
      });
  }

  /** One scan after all the outcomes of a commit (their callbacks run one after another), not one each. */
  let scanQueued = false;
  function scanSoon(): void {
    if (scanQueued) return;
    scanQueued = true;
    setImmediate(() => {
      scanQueued = false;
      scan();
    });
  }

  function noReport(websmsId: string): void {
    const e = inflight.get(websmsId);
    if (!e || e.settling) return;
    log.warn({ id: e.row.id, part: e.part }, 'no report from the dialplan in time; will deliver again');
    retried(e.row);
    settle(websmsId, () =>
      store.retry(e.row.id, 'no report from the dialplan', now() + retryDelay(e.row.attempts), now()),
    );
  }

  function onEvent(ev: AmiMessage): void {
    const name = (ev.event ?? '').toLowerCase();
    if (name === 'userevent' && (ev.userevent ?? '').toLowerCase() === 'websms') return onReport(ev);
    if (name === 'originateresponse') return onOriginateResponse(ev);
    if (name === 'contactstatus') return onContact(ev);
  }

  function onOriginateResponse(ev: AmiMessage): void {
    if ((ev.response ?? '').toLowerCase() !== 'failure') return;
    for (const [websmsId, e] of inflight) {
      if (e.actionId === ev.actionid && !e.settling) {
        const reason = ORIGINATE_REASONS[ev.reason ?? ''] ?? `originate failed (reason ${ev.reason ?? '?'})`;
        log.warn({ id: e.row.id, to: e.row.recipient, reason }, 'text undeliverable');
        settle(websmsId, () => store.fail(e.row.id, 'undeliverable', reason, now()));
        return;
      }
    }
  }

  function onReport(ev: AmiMessage): void {
    const websmsId = ev.id ?? '';
    const m = /^(\d+)\.(\d+)$/.exec(websmsId);
    if (!m) return;
    const id = Number(m[1]);
    const part = Number(m[2]);
    const status = (ev.status ?? '').toUpperCase();
    const endpoint = ev.endpoint ?? '';
    const t = now();
    const e = inflight.get(websmsId);
    // A report for an attempt we stopped waiting for (timeout, restart) still
    // counts; one for a part whose outcome is being committed is checked
    // against the store (and again by the store's update).
    const row = (e?.settling ? undefined : e?.row) ?? store.get(id);
    if (!row || row.parts_done !== part - 1) {
      if (e) settle(websmsId, () => undefined);
      return;
    }
    if (status === 'DELIVERED') {
      if ((ev.repeat ?? '').toLowerCase() === 'yes') {
        log.info({ id, part, endpoint }, 'part shown before (the dialplan has its record); not sent again');
      }
      settle(
        websmsId,
        () => store.partDelivered(id, part, endpoint, t),
        (r) => {
          if (r?.state === 'delivered') log.info({ id, to: row.recipient, endpoint, parts: row.parts }, 'text delivered');
        },
      );
    } else if (status === 'NO_CONTACTS') {
      const at = t + retryDelay(row.attempts);
      log.info({ id, endpoint, retryAt: new Date(at).toISOString() }, 'no phone registered; text waits');
      settle(websmsId, () => store.wait(id, endpoint || null, 'no registered phone', at, t));
    } else if (status === 'BUSY') {
      log.info({ id, part, endpoint }, 'another hand-off of this text was still being delivered; will look again');
      retried(row);
      settle(websmsId, () => store.retry(id, ev.reason || 'another delivery of this text was in progress', t + retryDelay(row.attempts), t));
    } else if (status === 'FAILED') {
      const reason = ev.reason || 'the dialplan could not deliver it';
      log.warn({ id, to: row.recipient, endpoint, reason }, 'text undeliverable');
      settle(websmsId, () => store.fail(id, 'undeliverable', reason, t));
    } else {
      log.warn({ id, status }, 'unknown WebSMS report status; will deliver again');
      retried(row);
      settle(websmsId, () => store.retry(id, `unknown report ${status}`, t + retryDelay(row.attempts), t));
    }
  }

  function onContact(ev: AmiMessage): void {
    const status = ev.contactstatus ?? '';
    if (status !== 'Reachable' && status !== 'NonQualified') return;
    const endpoint = ev.endpointname || ev.aor || '';
    if (!endpoint) return;
    const n = store.wakeEndpoint(endpoint, now());
    if (n > 0) {
      log.info({ endpoint, texts: n }, 'phone registered; delivering waiting texts');
      setImmediate(scan);
    }
  }

  const onConnected = (): void => scan();

  /**
   * The reports of the texts in flight can no longer reach us (Asterisk
   * sends a UserEvent to the sessions connected when it is raised). Waiting
   * for the report timeout would hold their slots, and their conversations,
   * for a minute after AMI is back; instead they are due at once and handed
   * over again on reconnection. The dialplan reports any it delivered
   * meanwhile from its record, without showing it again.
   */
  function onDisconnected(): void {
    const t = now();
    // Those whose outcome came before the loss are being committed already.
    const lost = [...inflight.values()].filter((e) => !e.settling);
    if (lost.length === 0) return;
    for (const e of lost) {
      retried(e.row);
      // Back in the place in the queue they had (they were taken before the
      // texts still waiting), so they go first when AMI is back.
      const due = Math.min(e.row.next_attempt_at, t);
      settle(`${e.row.id}.${e.part}`, () => store.retry(e.row.id, 'AMI connection lost before the report', due, t));
    }
    log.warn({ texts: lost.length }, 'AMI connection lost with texts in flight; handing them over again once it is back');
  }

  return {
    start() {
      if (running) return;
      running = true;
      const n = store.resumeInterrupted(now());
      if (n > 0) log.info({ texts: n }, 'resuming texts interrupted by a restart');
      ami.on('event', onEvent);
      ami.on('connected', onConnected);
      ami.on('disconnected', onDisconnected);
      scan();
    },
    stop() {
      running = false;
      clearTimeout(timer);
      ami.off('event', onEvent);
      ami.off('connected', onConnected);
      ami.off('disconnected', onDisconnected);
      for (const e of inflight.values()) clearTimeout(e.timer);
      inflight.clear();
    },
    async drain(timeoutMs) {
      running = false;
      clearTimeout(timer);
      const end = now() + timeoutMs;
      while (inflight.size > 0 && ami.connected && now() < end) await new Promise((r) => setTimeout(r, 20));
      return inflight.size;
    },
    kick() {
      // Every text of a group commit kicks: one scan after them does for all
      // (and for the outcomes committed with them).
      if (running) scanSoon();
    },
    inFlight: () => inflight.size,
  };
}
