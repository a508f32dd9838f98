// The composition root: wires store, AMI, delivery and HTTP together, and takes
// them down in order (stop taking texts, commit what is batched, then the rest).

import path from 'node:path';
import { createAmiClient, type AmiClient } from './asterisk/ami.js';
import { checkDialplanOnFirstConnect } from './asterisk/doctor.js';
import { makeAddressMatcher } from './config/cidr.js';
import { configWarnings } from './config/warnings.js';
import type { Config } from './config/types.js';
import { createHandler, listen, type HttpServer } from './http/server.js';
import { createDeliverer, type Deliverer } from './inbound/deliver.js';
import type { Logger } from './log.js';
import { openDatabase, type Db } from './store/db.js';
import { createInboundStore, createInboundWriter, type InboundStore } from './store/inbound.js';
import { createPartsStore } from './store/parts.js';
import { createReassembly } from './http/reassembly.js';
import { splitForDelivery } from './asterisk/encode.js';
import { createOutboundStore, type OutboundStore } from './store/outbound.js';
import { createFastAgiServer, type FastAgiServer } from './asterisk/fastagi.js';
import { createHandoff, refuseWhileStopping } from './outbound/handoff.js';
import { createUnconfirmed } from './outbound/unconfirmed.js';
import { createHandoffMarks } from './store/handoffs.js';
import { createNotifier } from './outbound/notify.js';
import { createReportHandler } from './outbound/reports.js';
import type { Sender } from './outbound/sender.js';
import type { Notifier } from './outbound/notify.js';
import { createHousekeeping } from './store/housekeeping.js';
import { startJobs, type Jobs } from './jobs.js';
import { reloadPlan } from './reload.js';
import { createMetrics, type Metrics } from './metrics.js';
import { createStatsReader } from './store/stats.js';
import { startApi } from './api/server.js';
import { createVoicemailIntake } from './voicemail/intake.js';
import { createVoicemailDone } from './voicemail/done.js';
import { createWriteProbe } from './store/probe.js';
import { createTextStore } from './store/texts.js';
import { startupLine } from './startup.js';
import { createMediaStore } from './media/store.js';
import { createMediaWorker, type MediaWorker } from './media/worker.js';
import { mediaHandler } from './media/serve.js';
import { createMediaRetention } from './media/retention.js';
import { createOutboundWriter } from './store/outbound.js';
import { createEmailStore, type EmailStore } from './email/store.js';
import { createEmailSender, type EmailSender } from './email/sender.js';
import { createEmailWatch, type EmailWatch } from './email/watch.js';
import type { ReplyIntake } from './email/replies.js';
import type { ReplyListener } from './email/listener.js';
import type { ImapReader } from './email/imap.js';
import { emailStatus } from './email/status.js';
import { emailKindLabel } from './metrics.js';
import { redactorFor, type Redact } from './redact.js';
import { createConversationStore } from './store/conversations.js';
import { createWebPage } from './web/page.js';
import { loadAssets } from './web/assets.js';
import { createLiveFeed } from './web/live.js';
import { createSessions } from './web/sessions.js';
import { createSignInLimit } from './web/sign-in-limit.js';

/** The AMI event classes websms needs, and no more (Newexten, class dialplan, would carry bodies). */
export const AMI_EVENT_CLASSES = 'call,user,system';

export interface Daemon {
  httpPort: number;
  /** The management API's port (src/api/). */
  apiPort: number;
  store: InboundStore;
  outbound: OutboundStore;
  ami: AmiClient;
  deliverer: Deliverer;
  /** Fetches the media of inbound texts (src/media/). */
  media: MediaWorker;
  sender: Sender;
  /** Texts by e-mail (src/email/): the outbox and its worker, the watch for texts to mail, the reply intake. */
  email: { store: EmailStore; sender: EmailSender; watch: EmailWatch; listenerPort: number | undefined; imap(): ImapReader | undefined };
  agiPort: number;
  db: Db;
  jobs: Jobs;
  /**
   * Applies a new configuration without dropping connections or queued
   * texts: interfaces, credentials, limits, log level. Settings that need a
   * restart (listen addresses, the database, the AMI connection) keep their
   * old values and are named in the result.
   */
  reload(next: Config): Promise<{ applied: string[]; needRestart: string[] }>;
  metrics: Metrics;
  stop(): Promise<void>;
}

/**
 * How long a stop waits for what is under way: webhooks and API requests
 * being answered (STOP_REQUESTS_MS), hand-offs, ITSP requests and
 * Originates waiting for their dialplan reports (STOP_GRACE_MS), all at once.
 * Logging off AMI (at most 1 s) comes after; systemd's TimeoutStopSec is 20 s.
 */
const STOP_GRACE_MS = 5000;
const STOP_REQUESTS_MS = 2000;

export async function startDaemon(config: Config, log: Logger): Promise<Daemon> {
  // From here on every log line, and every failure detail stored with a text,
  // has the configured secrets taken out (src/redact.ts); a reload adds its own.
  let redactNow = redactorFor(config);
  const redact: Redact = (s) => redactNow(s);
  log.redact = redact;
  // The web page's files are part of the package: missing ones stop the start before anything opens.
  const assets = loadAssets();
  const db = openDatabase(config.general.database);
  let current = config;
  const store = createInboundStore(db, {
    dedupWindowMs: config.general.dedupWindowMs,
    mediaHoldMs: () => current.media.maxHoldMs,
    onMedia: () => media.kick(),
  });
  const mediaStore = createMediaStore(db);
  const media = createMediaWorker({ db, store, media: mediaStore, config: () => current, log: log.child({ mod: 'media' }), onReady: () => deliverer.kick() });
  const ami = createAmiClient({
    host: config.ami.host,
    port: config.ami.port,
    username: config.ami.username,
    secret: config.ami.secret,
    events: AMI_EVENT_CLASSES,
    actionTimeoutMs: config.ami.actionTimeoutMs,
    pingIntervalMs: config.ami.pingIntervalMs,
    reconnectMinMs: config.ami.reconnectMinMs,
    reconnectMaxMs: config.ami.reconnectMaxMs,
    log: log.child({ mod: 'ami' }),
  });
  checkDialplanOnFirstConnect(ami, config, log.child({ mod: 'dialplan' }));
  const stats = createStatsReader(db);
  const emailStore = createEmailStore(db);
  let imap: ImapReader | undefined;
  const metrics = createMetrics({
    stats,
    ami,
    interfaces: config.interfaces.map((i) => i.name),
    email: { counts: () => emailStore.counts(), oldestQueuedAt: () => emailStore.oldestQueuedAt(), imapConnected: () => imap?.health().connected },
  });
  // The same list `websms check-config` prints.
  for (const w of configWarnings(config)) log.warn({ code: w.code, ...(w.iface ? { iface: w.iface } : {}) }, w.message);
  const deliverer = createDeliverer({ store, ami, config: config.ami, log: log.child({ mod: 'deliver' }), metrics, media });
  // Hand-offs under way share a commit (src/store/group-commit.ts); the AGI server says how many there are.
  let agiSessions = (): number => 0;
  const outbound = createOutboundStore(db, { expectedWriters: () => agiSessions() });
  const makeNotifier = (c: Config): Notifier => createNotifier({
    mode: c.outbound.notify,
    inbound: store,
    outbound,
    partBytes: c.ami.partBytes,
    log: log.child({ mod: 'notify' }),
    onQueued: () => deliverer.kick(),
  });
  let notifyNow = makeNotifier(config);
  const notifier: Notifier = { notify: (...a) => notifyNow.notify(...a) };
  // The sender brings axios, about 25 MB resident: load it only when some interface
  // sends, or when texts are left from a configuration that did (they must be failed).
  const makeSender = async (c: Config): Promise<Sender> => {
    const waiting = outbound.counts();
    return c.interfaces.some((i) => i.send.url !== '') || waiting.queued + waiting.sending > 0
      ? (await import('./outbound/sender.js')).createSender({ store: outbound, config: c, notifier, log: log.child({ mod: 'send' }), handoffs: () => agiSessions(), metrics, redact })
      : { start: () => undefined, stop: async () => 0, kick: () => undefined, health: () => [] };
  };
  let sender = await makeSender(config);
  // A hand-off's text is sent once Asterisk confirmed its QUEUED (db/015).
  const marks = createHandoffMarks(db, {
    onWritten: () => sender.kick(),
    onError: (err, ids) => log.error({ err, ids }, 'could not record that Asterisk confirmed QUEUED; those texts go at the next start, with a notice to their senders'),
  });
  const unconfirmed = createUnconfirmed({ store: outbound, marks, notifier, log: log.child({ mod: 'handoff' }), onQueued: () => sender.kick() });
  // Left by a process that stopped between a commit and Asterisk's answer;
  // before the FastAGI listener opens, so no hand-off of this process is taken for one.
  await unconfirmed.leftovers();
  const onReport = createReportHandler({ store: outbound, notifier, log: log.child({ mod: 'report' }), redact });

  // Texts by e-mail: every e-mail waits in the outbox until the SMTP server takes it; the texts are not affected.
  const emailLog = log.child({ mod: 'email' });
  // A voicemail's recording is websms's to remove once its e-mail is sent (docs/dialplan.md, "Voicemail").
  const voicemailDone = createVoicemailDone({ db, log: log.child({ mod: 'voicemail' }) });
  const emailSender = createEmailSender({
    store: emailStore,
    config: () => current.email,
    log: emailLog,
    onOutcome: (kind, outcome) => metrics.emails.inc({ kind: emailKindLabel(kind), outcome }),
    onDone: (row, outcome, reason) => voicemailDone.settled(row, outcome, reason, Date.now()),
  });
  const repliesOn = (c: Config): boolean => c.email.users.length > 0 && (c.email.replyListen !== null || c.email.imap.host !== '');
  const emailWatch = createEmailWatch({
    db,
    store: emailStore,
    media: mediaStore,
    config: () => current,
    repliesOn: () => repliesOn(current),
    log: emailLog,
    onQueued: () => emailSender.kick(),
  });
  // Reading replies brings mailparser, smtp-server and imapflow (about 50 MB resident together): loaded only when replies are read.
  let intake: ReplyIntake | undefined;
  const replyIntake = async (): Promise<ReplyIntake> =>
    (intake ??= (await import('./email/replies.js')).createReplyIntake({
      db,
      store: emailStore,
      write: createOutboundWriter(db),
      config: () => current,
      log: emailLog.child({ part: 'replies' }),
      onQueued: () => sender.kick(),
      onNotice: () => emailSender.kick(),
      onOutcome: (o) => metrics.emailReplies.inc({ outcome: o.status }),
    }));
  const startImap = async (c: Config): Promise<ImapReader | undefined> => {
    if (c.email.users.length === 0 || c.email.imap.host === '') return undefined;
    const reader = (await import('./email/imap.js')).createImapReader({ email: () => current.email, intake: await replyIntake(), log: emailLog.child({ part: 'imap' }) });
    reader.start();
    return reader;
  };
  let replyListener: ReplyListener | undefined;
  // Texts that arrive in parts: one reassembly for the life of the process (its timer survives reloads).
  const reassembly = createReassembly({
    parts: createPartsStore(db, {
      // Media of a text in parts are written with it, like those of a text in one piece.
      write: createInboundWriter(db, { dedupWindowMs: config.general.dedupWindowMs, mediaHoldMs: () => current.media.maxHoldMs, onMedia: () => media.kick() }),
      countParts: (body) => splitForDelivery(body, config.ami.partBytes).length,
      dedupWindowMs: config.general.dedupWindowMs,
      maxBytes: config.general.maxBodyBytes,
    }),
    timeoutMs: () => current.general.reassemblyTimeoutMs,
    log: log.child({ mod: 'parts' }),
    onStored: () => deliverer.kick(),
  });

  const makeWebhooks = (c: Config) => createHandler({
    interfaces: c.interfaces,
    store,
    reassembly,
    countryCode: c.general.countryCode,
    maxRequestBytes: c.general.maxRequestBytes,
    maxBodyBytes: c.general.maxBodyBytes,
    partBytes: c.ami.partBytes,
    trustedProxies: makeAddressMatcher(c.general.trustedProxies),
    log: log.child({ mod: 'http' }),
    onStored: () => deliverer.kick(),
    onReport,
    metrics,
    media: mediaHandler({ media: mediaStore, config: () => c.media, log: log.child({ mod: 'media' }) }),
  });
  // The listener calls through this variable, so a reload swaps the
  // interfaces under open connections without closing any.
  let webhooks = makeWebhooks(config);
  const handler: typeof webhooks = (req, res) => webhooks(req, res);
  const makeHandoff = (c: Config) =>
    createHandoff({
      store: outbound,
      config: c,
      log: log.child({ mod: 'handoff' }),
      onQueued: (id) => marks.confirm(id),
      onUnconfirmed: (id) => void unconfirmed.one(id),
      metrics,
    });
  const scripts = { outbound: makeHandoff(config) };

  let http: HttpServer;
  let agi: FastAgiServer | undefined;
  // The management API: up first (its /readyz says what is still missing), down first.
  let api: HttpServer;
  const texts = createTextStore(db);
  const onQueued = (direction: 'in' | 'out'): void => (direction === 'out' ? sender.kick() : deliverer.kick());
  const senderHealth = { health: () => sender.health() };
  const webLog = log.child({ mod: 'web' });
  // The web page of conversations, on the same listener as the API (src/web/).
  const page = createWebPage({
    config: () => current,
    texts,
    conversations: createConversationStore(db, texts),
    media: mediaStore,
    actions: { config: () => current, texts, outbound, onQueued, log: webLog, now: Date.now },
    interfaces: { config: () => current, stats, sender: senderHealth, ami },
    live: createLiveFeed({ db, log: webLog }),
    sessions: createSessions(),
    signInLimit: createSignInLimit(),
    assets,
    log: webLog,
    now: Date.now,
  });
  try {
    api = await startApi({
      config: () => current,
      texts,
      stats,
      outbound,
      voicemail: createVoicemailIntake({
        db,
        email: emailStore,
        dir: () => path.join(path.dirname(path.resolve(current.general.database)), 'voicemail'),
        onQueued: () => emailSender.kick(),
      }),
      probe: createWriteProbe(db),
      sender: senderHealth,
      ami,
      fastagiListening: () => agi?.listening() ?? false,
      onQueued,
      log: log.child({ mod: 'api' }),
      metrics,
      email: () => emailStatus(current, emailStore, emailSender.health(), imap?.health(), replyListener?.port),
    }, page.handle);
  } catch (err) {
    db.close();
    throw err;
  }
  try {
    http = await listen(handler, config.general.listenHost, config.general.listenPort, log.child({ mod: 'http' }), { checkContinue: handler });
    try {
      agi = await createFastAgiServer({
        host: config.agi.listenHost,
        port: config.agi.listenPort,
        allow: makeAddressMatcher(config.agi.allow),
        timeoutMs: config.agi.handoffTimeoutMs,
        log: log.child({ mod: 'agi' }),
        scripts,
        whileClosing: refuseWhileStopping,
      });
      const server = agi;
      agiSessions = () => server.active();
    } catch (err) {
      await http.close();
      throw err;
    }
    const l = config.email.replyListen;
    if (l !== null && config.email.users.length > 0) {
      try {
        const { startReplyListener } = await import('./email/listener.js');
        replyListener = await startReplyListener({ host: l.host, port: l.port, intake: await replyIntake(), email: () => current.email, log: emailLog.child({ part: 'listener' }) });
      } catch (err) {
        await Promise.all([http.close(), agi.close()]);
        throw err;
      }
    }
  } catch (err) {
    await api.close();
    db.close();
    throw err;
  }
  const started = startupLine(config, { http: http.port, agi: agi.port, api: api.port, ...(replyListener ? { replies: replyListener.port } : {}) });
  log.info(started.fields, started.msg);
  ami.start();
  deliverer.start();
  media.start();
  sender.start();
  reassembly.schedule();
  emailSender.start();
  emailWatch.start();
  imap = await startImap(config);

  const jobs = startJobs({
    inbound: store,
    outbound,
    housekeeping: createHousekeeping(db),
    notifier,
    config: () => current,
    log: log.child({ mod: 'jobs' }),
    kick: () => {
      deliverer.kick();
      sender.kick();
    },
    email: emailStore,
    voicemail: voicemailDone,
    media: createMediaRetention({
      media: mediaStore,
      directory: () => current.media.directory,
      retentionMs: () => current.media.retentionMs,
      log: log.child({ mod: 'media' }),
    }),
  });

  let stopping: Promise<void> | undefined;
  let reloading: Promise<unknown> = Promise.resolve();
  return {
    httpPort: http.port,
    apiPort: api.port,
    agiPort: agi.port,
    store,
    outbound,
    ami,
    deliverer,
    media,
    get sender() {
      return sender;
    },
    email: { store: emailStore, sender: emailSender, watch: emailWatch, listenerPort: replyListener?.port, imap: () => imap },
    db,
    jobs,
    reload(next) {
      // One reload at a time: a second SIGHUP waits for the first.
      const run = reloading.then(async () => {
        if (stopping) return { applied: [], needRestart: [] };
        const plan = reloadPlan(current, next);
        // Keep what only a restart can change; take everything else.
        const merged: Config = plan.merged;
        redactNow = redactorFor(current, merged);
        log.level = merged.general.logLevel;
        // Deliverer and AMI hold this object: their limits change in place.
        Object.assign(current.ami, merged.ami);
        merged.ami = current.ami;
        notifyNow = makeNotifier(merged);
        webhooks = makeWebhooks(merged);
        scripts.outbound = makeHandoff(merged);
        // The old sender finishes the requests it has under way (their
        // outcomes are recorded) before the new one, with the new
        // credentials and limits, takes the queue.
        const old = sender;
        await old.stop();
        sender = await makeSender(merged);
        const imapBefore = JSON.stringify([current.email.imap, current.email.caFile, current.email.users.length > 0]);
        current = merged;
        if (!stopping) sender.start();
        // Another mailbox (or none): the reader starts over with the new settings.
        if (JSON.stringify([merged.email.imap, merged.email.caFile, merged.email.users.length > 0]) !== imapBefore) {
          await imap?.stop();
          imap = stopping ? undefined : await startImap(merged);
        }
        emailSender.kick();
        for (const w of configWarnings(merged)) log.warn({ code: w.code, ...(w.iface ? { iface: w.iface } : {}) }, w.message);
        log.info({ changed: plan.applied, needRestart: plan.needRestart }, plan.needRestart.length > 0
          ? 'configuration reloaded; some settings need a restart to take effect (systemctl restart websms)'
          : 'configuration reloaded');
        return { applied: plan.applied, needRestart: plan.needRestart };
      });
      reloading = run.catch(() => undefined);
      return run;
    },
    metrics,
    stop() {
      stopping ??= (async () => {
        const began = Date.now();
        const left = (): number => Math.max(0, began + STOP_GRACE_MS - Date.now());
        // Everything stops taking work at once: the listeners close (a
        // request or hand-off that arrives now is refused, one under way
        // finishes), no new Originate and no new ITSP request starts. What is
        // under way gets STOP_GRACE_MS, all of it at the same time, so that
        // its outcome is recorded rather than repeated at the next start.
        // Open pages' event streams end first, or they would hold the API listener's close for its grace.
        page.close();
        const requests = Promise.all([api.close(STOP_REQUESTS_MS), http.close(STOP_REQUESTS_MS), replyListener?.close(), imap?.stop()]);
        emailWatch.stop();
        const handoffs = agi!.close(STOP_GRACE_MS);
        const reports = deliverer.drain(STOP_GRACE_MS);
        const sends = sender.stop(STOP_GRACE_MS);
        // An e-mail being handed to the SMTP server gets the same grace; one still open is sent again at the next start.
        const emails = emailSender.stop(STOP_GRACE_MS);
        reassembly.stop();
        const scheduled = jobs.stop();
        // Fetches under way are dropped; their items are fetched again at the next start.
        const fetches = media.stop();
        log.info({ graceMs: STOP_GRACE_MS }, 'stopping: no new webhooks, hand-offs or API requests; finishing what is under way');
        await Promise.all([requests, handoffs, scheduled, fetches]);
        // A reload under way may have put a new sender in place: it is not started, and is stopped too.
        await Promise.race([reloading, new Promise((r) => setTimeout(r, left()).unref())]);
        const [openSends, inFlight] = await Promise.all([sends, reports, emails]);
        store.flush();
        outbound.flush();
        marks.flush();
        // Reports that come while logging off still count (the deliverer listens until then).
        await ami.stop();
        // Answers from ITSPs that came in meanwhile are recorded too.
        const stillOpen = await sender.stop(0);
        deliverer.stop();
        store.flush();
        db.close();
        if (stillOpen > 0) log.warn({ texts: stillOpen }, 'no answer from the ITSP yet for texts being sent at stop; they are sent again at the next start');
        if (inFlight > 0) log.warn({ texts: inFlight }, 'no dialplan report yet for texts in flight at stop; they are delivered again at the next start');
        log.info({ ms: Date.now() - began, itspOpenAtGrace: openSends }, 'stopped');
      })();
      return stopping;
    },
  };
}
