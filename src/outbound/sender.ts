// Sends queued outbound texts to their ITSPs: one conversation's texts in the
// order they were handed off, within each interface's concurrency, rate limits
// (per interface and per sending number) and circuit breaker; retries with
// backoff (jittered, never below retry_min), Retry-After where the ITSP gives one, failover to
// another interface when attempts run out, and a notice to the sender when a
// text finally fails.
//
// The double-send window: a text is marked 'sending' before the HTTP request
// and 'sent' in the next commit after the answer (the hand-offs' group
// commit, within OUTCOME_ALONGSIDE_MS while hand-offs are under way, else
// within OUTCOME_BATCH_MS). A crash between the two leaves it 'sending' (or, if the mark
// never reached the disk, 'queued'); at start-up it is queued again and sent a
// second time, with the same reference/idempotency key where the interface
// sends one.

import { retryDelay } from '../backoff.js';
import type { Config, InterfaceConfig, OutboundConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import { outboundAgeFrom, type OutboundRow, type OutboundStore } from '../store/outbound.js';
import type { ProviderAdapter, SendOutcome } from '../../providers/types.js';
import { adapterFor } from '../../providers/index.js';
import { createHttpClient, type HttpClient } from './http.js';
import { createTokenBucket, type TokenBucket } from './ratelimit.js';
import { createBreaker, type Breaker, type BreakerState } from './breaker.js';
import type { Notifier } from './notify.js';
import type { ItspOutcome, Metrics } from '../metrics.js';
import { answerFailure, finalReason, shortReason, type FailureKind } from './failure.js';
import { noRedaction, type Redact } from '../redact.js';

export interface Sender {
  start(): void;
  /**
   * Takes no new texts and waits for the ITSP requests under way, at most
   * timeoutMs, recording each outcome that comes in; resolves with how many
   * are still open (those texts stay 'sending' and go again at the next
   * start). Called again, it records what came in since.
   */
  stop(timeoutMs?: number): Promise<number>;
  kick(): void;
  /** How each sending interface is doing right now (for the management API and metrics). */
  health(): InterfaceHealth[];
}

export interface InterfaceHealth {
  name: string;
  circuit: BreakerState;
  /** The last failed attempt's detail (for the administrator, secrets taken out) and time (ms since epoch); kept after later successes. */
  lastError: { at: number; reason: string } | null;
  rate: {
    /** Segments per second for the interface and per sending number; 0: no limit. */
    perSecond: number;
    perNumber: number;
    /** Set by a 429/503 with Retry-After: nothing is sent through it before this time (ms since epoch). */
    pausedUntil: number | null;
  };
}

interface Lane {
  iface: InterfaceConfig;
  adapter: ProviderAdapter;
  http: HttpClient;
  bucket: TokenBucket;
  perNumber: Map<string, TokenBucket>;
  breaker: Breaker;
  inflight: number;
  /** Set by a 429/503 with Retry-After: the whole interface waits. */
  pausedUntil: number;
  lastError: { at: number; reason: string } | null;
}

const OUTCOME_BATCH_MS = 5;
/**
 * While hand-offs are under way an outcome waits up to this long for one's
 * commit to ride in: Asterisk's message queue waits on every stall of the
 * event loop, and an fsync of the sender's own is one.
 */
const OUTCOME_ALONGSIDE_MS = 20;
/**
 * While hand-offs are under way, a look at the queue starts at most this many
 * sends (each about 0.3 ms of this event loop: the request's HTTP work, its
 * answer, its outcome), and looks again after SLICE_STEP_MS. A hand-off then
 * waits behind a slice of a millisecond or so, not behind a burst of tens of
 * sends; sending is spread out, never stopped, however many hand-offs come.
 */
const SLICE_WHILE_HANDOFFS = 4;
const SLICE_STEP_MS = 4;

/** The most of an ITSP's raw answer written to the debug log. */
const DEBUG_BODY_CHARS = 2000;

/** The reference sent to ITSPs that take one: stable across retries of one text. */
export const referenceOf = (id: number): string => `websms-${id}`;

export function createSender(deps: {
  store: OutboundStore;
  config: Config;
  notifier: Notifier;
  log: Logger;
  /**
   * Hand-off sessions open right now. Each holds Asterisk's one message
   * queue, so while there are any, new sends (their HTTP work and their
   * writes, all on this event loop) start a few at a time, and outcomes wait
   * for the hand-offs' commit.
   */
  handoffs?: () => number;
  metrics?: Pick<Metrics, 'itspRequestSeconds' | 'itspRequests' | 'retries' | 'failovers'>;
  /** Takes every configured secret out of the failure details stored with a text (src/redact.ts). */
  redact?: Redact;
  now?: () => number;
}): Sender {
  const { store, notifier, log } = deps;
  const redact = deps.redact ?? noRedaction;
  const out: OutboundConfig = deps.config.outbound;
  const now = deps.now ?? Date.now;
  const lanes = new Map<string, Lane>();
  for (const iface of deps.config.interfaces) {
    if (iface.send.url === '') continue;
    const name = iface.name;
    lanes.set(name, {
      iface,
      adapter: adapterFor(iface.provider),
      http: createHttpClient(iface.send),
      bucket: createTokenBucket(iface.send.ratePerSecond),
      perNumber: new Map(),
      breaker: createBreaker(iface.send.breakerFailures, iface.send.breakerCooldownMs, (s) =>
        s === 'open'
          ? log.warn({ iface: name, cooldownMs: iface.send.breakerCooldownMs }, 'ITSP keeps failing; circuit breaker open')
          : log.info({ iface: name }, 'ITSP answers again; circuit breaker closed'),
      ),
      inflight: 0,
      pausedUntil: 0,
      lastError: null,
    });
  }

  let running = false;
  let timer: NodeJS.Timeout | undefined;
  const pending = new Set<Promise<void>>();

  const backoff = (attempts: number): number => retryDelay(attempts, out.retryMinMs, out.retryMaxMs);

  function scan(): void {
    if (!running) return;
    clearTimeout(timer);
    const t = now();
    const sliced = deps.handoffs !== undefined && deps.handoffs() > 0;
    // A slice left due texts behind: the next look comes sooner than other wake-ups.
    let more = false;
    let wake = Infinity;
    try {
      // Only as many candidates as there is room to send (within each
      // interface's concurrency and rate limit), plus some for the
      // conversations and limits that will skip a few: a scan runs every few
      // milliseconds while a rate limit paces the sending, and each row read
      // costs this event loop.
      let free = 0;
      let full = false;
      for (const lane of lanes.values()) {
        const room = Math.max(0, lane.iface.send.concurrency - lane.inflight);
        if (room === 0) full = true;
        const tokens = lane.bucket.available(t);
        if (room > 0 && tokens === 0) wake = Math.min(wake, lane.bucket.wait(1, t));
        free += Math.min(room, tokens);
      }
      if (sliced) free = Math.min(free, SLICE_WHILE_HANDOFFS);
      const picked: Array<{ lane: Lane; row: OutboundRow }> = [];
      if (free > 0) {
        for (const row of store.due(t, free * 2 + 4)) {
          if (sliced && picked.length >= SLICE_WHILE_HANDOFFS) {
            more = true;
            break;
          }
          const w = consider(row, t, picked);
          if (w > 0) wake = Math.min(wake, w);
        }
      } else if (full) wake = Math.min(wake, 20);
      if (picked.length > 0) {
        const marked = store.markSending(picked.map((p) => p.row.id), t);
        for (const { lane, row } of picked) {
          if (marked.has(row.id)) start(lane, row);
          else {
            // No longer queued (cancelled by another writer since due() read it): never sent.
            lane.inflight--;
            lane.breaker.abandoned();
          }
        }
      }
    } catch (err) {
      log.error({ err }, 'outbound scan failed');
      wake = 1000;
    }
    const next = store.nextDueAt();
    if (next !== undefined && next > t) wake = Math.min(wake, next - t);
    timer = setTimeout(scan, more ? SLICE_STEP_MS : Math.min(Math.max(wake, 5), 60_000));
    timer.unref();
  }

  /** Picks the row if every limit allows; otherwise returns how long until one might. */
  function consider(row: OutboundRow, t: number, picked: Array<{ lane: Lane; row: OutboundRow }>): number {
    // Its hand-off is still under way: it goes once Asterisk confirms QUEUED (which kicks the sender).
    if (row.handoff === 'unconfirmed') return 0;
    const lane = lanes.get(row.interface);
    if (!lane) {
      finalFail(row, 'failed', 'setup', `interface ${row.interface} does not send (no send_url)`);
      return 0;
    }
    if (t - outboundAgeFrom(row) > out.maxAgeMs) {
      finalFail(row, 'expired', 'expired', 'no ITSP accepted it within [outbound] max_age');
      return 0;
    }
    if (lane.inflight >= lane.iface.send.concurrency) return 20;
    if (lane.pausedUntil > t) return lane.pausedUntil - t;
    const open = lane.breaker.wait(t);
    if (open > 0) return open;
    let numberBucket = lane.perNumber.get(row.sender);
    if (!numberBucket) {
      // No saving up per number: carriers police a long code's pace, not its average.
      numberBucket = createTokenBucket(lane.iface.send.ratePerNumber, 1);
      lane.perNumber.set(row.sender, numberBucket);
    }
    const forNumber = numberBucket.wait(row.segments, t);
    if (forNumber > 0) return forNumber;
    const forIface = lane.bucket.wait(row.segments, t);
    if (forIface > 0) return forIface;
    numberBucket.take(row.segments, t);
    lane.bucket.take(row.segments, t);
    lane.breaker.started();
    lane.inflight++;
    picked.push({ lane, row });
    return 0;
  }

  function start(lane: Lane, row: OutboundRow): void {
    const p = send(lane, row).finally(() => {
      lane.inflight--;
      pending.delete(p);
      if (running) kickSoon();
    });
    pending.add(p);
  }

  // Completions come one by one; picking up new work every few ms instead of
  // after each one keeps the database writes (and their stalls) few.
  let kicked = false;
  function kickSoon(): void {
    if (kicked) return;
    kicked = true;
    setTimeout(() => {
      kicked = false;
      scan();
    }, OUTCOME_BATCH_MS);
  }

  // Outcomes are committed in the hand-offs' group commit when one comes
  // soon (one fsync serves both), else by themselves a few milliseconds
  // later, together with the others of those milliseconds: each fsync stalls
  // the event loop, and hand-offs must not wait on the sender's. What follows
  // from an outcome (a notice; a look for a text put back in the queue, which
  // a scan before the commit did not see) waits for its commit.
  const recording = new Set<Promise<void>>();
  function record(id: number, write: () => void, after?: () => void): void {
    const wait = deps.handoffs !== undefined && deps.handoffs() > 0 ? OUTCOME_ALONGSIDE_MS : OUTCOME_BATCH_MS;
    const p: Promise<void> = store
      .alongside(write, wait)
      .then(
        () => {
          after?.();
          if (running) kickSoon();
        },
        (err: unknown) => log.error({ err, id }, 'could not record a send outcome; the text will be sent again after a restart'),
      )
      .finally(() => recording.delete(p));
    recording.add(p);
  }

  async function send(lane: Lane, row: OutboundRow): Promise<void> {
    const cfg = lane.iface.send;
    let outcome: SendOutcome;
    let measured: ItspOutcome = 'error';
    // What went wrong, when it did: whose problem (the kind) and the detail for the administrator.
    let kind: FailureKind = 'setup';
    let status: number | undefined;
    const fields = { id: row.id, iface: lane.iface.name, to: row.recipient, attempt: row.attempts + 1 };
    try {
      const req = lane.adapter.buildRequest(
        { id: row.id, from: row.sender, to: row.recipient, body: row.body ?? '', reference: referenceOf(row.id) },
        cfg,
      );
      const timer = deps.metrics?.itspRequestSeconds.startTimer({ interface: lane.iface.name });
      const res = await lane.http.send(req);
      timer?.();
      if (res.ok) {
        outcome = lane.adapter.parseResponse(res.answer, cfg);
        measured = outcome.kind;
        if (outcome.kind !== 'accepted') {
          status = res.answer.status;
          kind = answerFailure(outcome.kind, status, outcome.reason);
          // The raw answer is for debugging only; the logger takes the secrets out of it too.
          log.debug({ ...fields, status, body: redact(res.answer.body.slice(0, DEBUG_BODY_CHARS)) }, 'ITSP answer to a text it did not take');
        }
      } else {
        outcome = { kind: 'retry', reason: res.reason };
        measured = res.code;
        // Timeout, refused, DNS or TLS: to the sender all the same; the detail tells them apart.
        kind = 'unreachable';
      }
    } catch (err) {
      // An adapter that cannot build the request (a key it cannot read): a setting to fix, not the sender's problem.
      outcome = { kind: 'retry', reason: `internal error: ${(err as Error).message}` };
      kind = 'setup';
    }
    deps.metrics?.itspRequests.inc({ interface: lane.iface.name, outcome: measured });
    const t = now();
    if (outcome.kind === 'accepted') {
      lane.breaker.success();
      const providerId = outcome.providerId;
      record(
        row.id,
        () => store.sent(row.id, providerId, t),
        () => {
          if (out.notify !== 'all') return;
          const fresh = store.get(row.id);
          if (fresh) void notifier.notify(fresh, 'sent', null);
        },
      );
      log.info({ ...fields, providerId }, 'text accepted by the ITSP');
      return;
    }
    const detail = redact(outcome.reason);
    const why = { failure: kind, ...(status !== undefined ? { status } : {}), detail };
    lane.lastError = { at: t, reason: detail };
    if (outcome.kind === 'permanent') {
      // The ITSP answered sensibly; it refuses this text, not everything.
      lane.breaker.success();
      log.warn({ ...fields, ...why }, 'ITSP refused the text');
      finalFail(row, 'failed', kind, detail);
      return;
    }
    lane.breaker.failure(t);
    if (outcome.retryAfterMs !== undefined) lane.pausedUntil = Math.max(lane.pausedUntil, t + outcome.retryAfterMs);
    const attempts = row.attempts + 1;
    if (attempts >= out.maxAttempts) {
      const to = cfg.failover;
      if (to !== '' && lanes.has(to) && row.interface !== to && row.origin !== to) {
        log.warn({ ...fields, ...why, failover: to }, 'attempts exhausted; failing over');
        const reason = shortReason(kind);
        deps.metrics?.failovers.inc({ interface: lane.iface.name, to });
        record(row.id, () => store.failover(row.id, to, reason, t, `${lane.iface.name}: ${detail}`));
        return;
      }
      log.warn({ ...fields, ...why }, 'attempts exhausted; text failed');
      finalFail(row, 'failed', kind, `${detail} (gave up after ${attempts} attempts)`);
      return;
    }
    const delay = outcome.retryAfterMs ?? backoff(attempts);
    log.info({ ...fields, ...why, retryInMs: delay }, 'send failed; will retry');
    const reason = shortReason(kind);
    deps.metrics?.retries.inc({ direction: 'out', interface: lane.iface.name });
    record(row.id, () => store.retry(row.id, reason, t + delay, t, detail));
  }

  /** The text fails for good: its reason says what the sender can do, the detail goes into its history. */
  function finalFail(row: OutboundRow, state: 'failed' | 'expired', kind: FailureKind, detail: string): void {
    const reason = finalReason(kind);
    record(
      row.id,
      () => store.fail(row.id, state, reason, now(), detail),
      () => {
        const fresh = store.get(row.id);
        if (fresh) void notifier.notify(fresh, state, reason);
      },
    );
  }

  return {
    start() {
      if (running) return;
      running = true;
      const n = store.resumeInterrupted(now());
      if (n > 0) log.warn({ texts: n }, 'texts were being sent when websms stopped; sending them again');
      scan();
    },
    async stop(timeoutMs = Infinity) {
      running = false;
      clearTimeout(timer);
      if (pending.size > 0) {
        let over: NodeJS.Timeout | undefined;
        await Promise.race([
          Promise.allSettled([...pending]),
          new Promise<void>((r) => {
            if (Number.isFinite(timeoutMs)) over = setTimeout(r, timeoutMs);
          }),
        ]);
        clearTimeout(over);
      }
      // Outcomes still waiting for a commit, and what follows from them.
      store.flush();
      await Promise.allSettled([...recording]);
      if (pending.size === 0) for (const lane of lanes.values()) lane.http.close();
      return pending.size;
    },
    kick() {
      if (running) kickSoon();
    },
    health() {
      const t = now();
      return [...lanes.values()].map((lane) => ({
        name: lane.iface.name,
        circuit: lane.breaker.state(t),
        lastError: lane.lastError,
        rate: {
          perSecond: lane.iface.send.ratePerSecond,
          perNumber: lane.iface.send.ratePerNumber,
          pausedUntil: lane.pausedUntil > t ? lane.pausedUntil : null,
        },
      }));
    },
  };
}
