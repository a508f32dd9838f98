// The daemon's Prometheus metrics (prom-client), served on the management
// listener's GET /metrics. Each daemon has its own registry: tests run several
// in one process. Every label value comes from the configuration (interface
// names) or from a fixed set below, never from a request: the number of
// series stays bounded whatever the ITSPs and phones send.
//
// Events are counted where they happen (the modules take an optional
// `metrics`); what the database knows (texts per state, the queues) is read
// when Prometheus scrapes, from queries that stay cheap as history grows
// (src/store/stats.ts). Every metric is described in docs/metrics.md.

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { HttpResult } from './outbound/http.js';
import type { RefusalCode } from './outbound/checks.js';
import type { Direction, StatsReader } from './store/stats.js';
import { STATES } from './store/texts.js';
import { EMAIL_KINDS } from './email/message.js';
import type { EmailOutcome } from './email/sender.js';
import type { ReplyStatus } from './email/replies.js';
import { OUTBOX_STATES, type OutboxState } from './email/store.js';

/** An e-mail's kind as a label: the kinds websms sends, anything else (a later voicemail) as its own fixed name. */
export type EmailKindLabel = (typeof EMAIL_KINDS)[number] | 'other';
export const emailKindLabel = (kind: string): EmailKindLabel => ((EMAIL_KINDS as readonly string[]).includes(kind) ? (kind as EmailKindLabel) : 'other');

/** How one ITSP request ended: the ITSP's verdict, or why there was none. */
export type ItspOutcome =
  | 'accepted'
  | 'retry'
  | 'permanent'
  | Extract<HttpResult, { ok: false }>['code']
  /** The request could not be built or read (an adapter threw). */
  | 'error';

/** Webhook refusals, by the HTTP status they were answered with. */
export const WEBHOOK_REFUSALS = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'too_large',
  415: 'unsupported_media_type',
  417: 'expectation_failed',
  422: 'unprocessable',
  500: 'internal',
  503: 'unavailable',
} as const;
export type WebhookRefusal = (typeof WEBHOOK_REFUSALS)[keyof typeof WEBHOOK_REFUSALS] | 'other';

/** The reason label of a webhook refused with this status. */
export function webhookRefusal(status: number): WebhookRefusal {
  return (WEBHOOK_REFUSALS as Record<number, WebhookRefusal>)[status] ?? 'other';
}

/** A hand-off the dialplan was told REJECTED: the check that refused it, or 'timeout' (committed after the deadline). */
export type HandoffRefusal = RefusalCode | 'timeout';

// The instruments as the modules see them: label values typed to their fixed sets.
interface Count<L> {
  inc(labels: L): void;
}
interface Timing<L> {
  /** Starts a timer; calling the result observes the seconds since. */
  startTimer(labels: L): () => number;
}

export interface Metrics {
  /** The Content-Type of render()'s text (Prometheus text format 0.0.4). */
  contentType: string;
  render(): Promise<string>;
  registry: Registry;
  /** From the start of an ITSP request to its whole answer (or its failure). */
  itspRequestSeconds: Timing<{ interface: string }>;
  itspRequests: Count<{ interface: string; outcome: ItspOutcome }>;
  /** A text put back in its queue after a failed attempt. */
  retries: Count<{ direction: Direction; interface: string }>;
  /** An outbound text moved to its interface's failover after its attempts ran out. */
  failovers: Count<{ interface: string; to: string }>;
  webhookRefusals: Count<{ interface: string; reason: WebhookRefusal }>;
  /** From the start of the outbound FastAGI script to QUEUED written back. */
  handoffSeconds: { startTimer(): () => number };
  handoffRefusals: Count<{ reason: HandoffRefusal }>;
  /** Each attempt to hand an e-mail to the SMTP server, by the e-mail's kind. */
  emails: Count<{ kind: EmailKindLabel; outcome: EmailOutcome }>;
  /** Replies to websms's e-mails, by what came of them. */
  emailReplies: Count<{ outcome: ReplyStatus }>;
}

export interface MetricsSources {
  /** The database's view of the queues; without it the text and queue gauges are left out. */
  stats?: StatsReader;
  /** Read at each scrape. */
  ami?: { readonly connected: boolean };
  /** The configured interfaces: their text and queue series exist, at zero, before any text. */
  interfaces?: readonly string[];
  /** The e-mail outbox and the reply mailbox, read at each scrape. */
  email?: {
    counts(): Record<OutboxState, number>;
    oldestQueuedAt(): number | undefined;
    /** undefined: no mailbox is read. */
    imapConnected(): boolean | undefined;
  };
  now?: () => number;
}

// An ITSP answers within a few hundred ms; send_timeout defaults to 30 s.
const ITSP_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
// A hand-off is a read and one group commit; handoff_timeout is 2 s by default.
const HANDOFF_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

// Process metrics (CPU, memory, event loop lag, GC) describe the process, not
// one daemon, and collecting them starts an event-loop monitor and a GC
// observer that are never stopped: one set per process, shared by every
// daemon's registry.
let processRegistry: Registry | undefined;
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export function createMetrics(sources: MetricsSources = {}): Metrics {
  const own = new Registry();
  const registers = [own];
  const now = sources.now ?? Date.now;
  const interfaces = sources.interfaces ?? [];
  const directions: Direction[] = ['in', 'out'];

  const stats = sources.stats;
  if (stats) {
    new Gauge({
      name: 'websms_texts',
      help: 'Texts in the database, by direction (in: from an ITSP to a phone, out: from a phone to an ITSP), interface and state.',
      labelNames: ['direction', 'interface', 'state'] as const,
      registers,
      collect() {
        this.reset();
        for (const direction of directions) {
          // Every state of the contract has a series, zero or not.
          for (const iface of interfaces) for (const state of STATES[direction]) this.set({ direction, interface: iface, state }, 0);
        }
        for (const c of stats.counts()) this.set({ direction: c.direction, interface: c.interface, state: c.state }, c.n);
      },
    });
    new Gauge({
      name: 'websms_queue_depth',
      help: 'Texts not finished yet (queued, being sent, or waiting for a phone), by direction and interface.',
      labelNames: ['direction', 'interface'] as const,
      registers,
      collect() {
        this.reset();
        for (const direction of directions) for (const iface of interfaces) this.set({ direction, interface: iface }, 0);
        for (const q of stats.queues()) this.set({ direction: q.direction, interface: q.interface }, q.depth);
      },
    });
    new Gauge({
      name: 'websms_queue_oldest_age_seconds',
      help: 'Age of the oldest text not finished yet, by direction and interface; 0 when there is none.',
      labelNames: ['direction', 'interface'] as const,
      registers,
      collect() {
        this.reset();
        for (const direction of directions) for (const iface of interfaces) this.set({ direction, interface: iface }, 0);
        const t = now();
        for (const q of stats.queues()) this.set({ direction: q.direction, interface: q.interface }, Math.max(0, (t - q.oldest) / 1000));
      },
    });
  }

  const ami = sources.ami;
  if (ami) {
    new Gauge({
      name: 'websms_ami_connected',
      help: '1 while websms is logged in to Asterisk over AMI, else 0.',
      registers,
      collect() {
        this.set(ami.connected ? 1 : 0);
      },
    });
  }

  const email = sources.email;
  if (email) {
    new Gauge({
      name: 'websms_email_outbox',
      help: 'E-mails in the outbox by state: queued (waiting, or waiting to be tried again), sending, sent, failed.',
      labelNames: ['state'] as const,
      registers,
      collect() {
        const c = email.counts();
        for (const state of OUTBOX_STATES) this.set({ state }, c[state]);
      },
    });
    new Gauge({
      name: 'websms_email_oldest_queued_age_seconds',
      help: 'Age of the oldest e-mail the SMTP server has not taken yet; 0 when there is none.',
      registers,
      collect() {
        const t = email.oldestQueuedAt();
        this.set(t === undefined ? 0 : Math.max(0, (now() - t) / 1000));
      },
    });
    new Gauge({
      name: 'websms_email_imap_connected',
      help: '1 while websms is logged in to the mailbox it reads replies from, else 0; absent when none is configured.',
      registers,
      collect() {
        this.reset();
        const c = email.imapConnected();
        if (c !== undefined) this.set(c ? 1 : 0);
      },
    });
  }
  const emails = new Counter({
    name: 'websms_emails_total',
    help: 'Attempts to hand an e-mail to the SMTP server, by kind (unreached, copy, failure, refused, other) and outcome (sent, retry, failed).',
    labelNames: ['kind', 'outcome'] as const,
    registers,
  });
  const emailReplies = new Counter({
    name: 'websms_email_replies_total',
    help: 'Replies to websms\'s e-mails, by outcome: queued (texted), duplicate, ignored (automatic replies), refused, retry (not stored now).',
    labelNames: ['outcome'] as const,
    registers,
  });

  const itspRequestSeconds = new Histogram({
    name: 'websms_itsp_request_duration_seconds',
    help: 'Time from the start of a send request to an ITSP until its whole answer, or until it failed, by interface.',
    labelNames: ['interface'] as const,
    buckets: ITSP_BUCKETS,
    registers,
  });
  const itspRequests = new Counter({
    name: 'websms_itsp_requests_total',
    help: 'Send requests to ITSPs by interface and outcome: accepted, retry, permanent, or why there was no answer (timeout, connect_timeout, refused, reset, dns, tls, network, error).',
    labelNames: ['interface', 'outcome'] as const,
    registers,
  });
  const retries = new Counter({
    name: 'websms_retries_total',
    help: 'Texts put back in their queue to be tried again after a failed attempt, by direction and interface.',
    labelNames: ['direction', 'interface'] as const,
    registers,
  });
  const failovers = new Counter({
    name: 'websms_failovers_total',
    help: 'Outbound texts moved to the failover interface after their attempts ran out, by interface and failover interface.',
    labelNames: ['interface', 'to'] as const,
    registers,
  });
  const webhookRefusals = new Counter({
    name: 'websms_webhook_refusals_total',
    help: 'ITSP webhooks (texts and delivery reports) refused, by interface and reason.',
    labelNames: ['interface', 'reason'] as const,
    registers,
  });
  const handoffSeconds = new Histogram({
    name: 'websms_handoff_duration_seconds',
    help: 'Time from the start of a FastAGI hand-off of an outbound text to QUEUED written back to Asterisk.',
    buckets: HANDOFF_BUCKETS,
    registers,
  });
  const handoffRefusals = new Counter({
    name: 'websms_handoff_refusals_total',
    help: 'Outbound hand-offs answered REJECTED, by reason.',
    labelNames: ['reason'] as const,
    registers,
  });

  const registry = Registry.merge([own, processMetrics()]);
  return {
    contentType: registry.contentType,
    render: () => registry.metrics(),
    registry,
    itspRequestSeconds,
    itspRequests,
    retries,
    failovers,
    webhookRefusals,
    handoffSeconds,
    handoffRefusals,
    emails,
    emailReplies,
  };
}
