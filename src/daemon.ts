// The composition root: wires store, AMI, delivery and HTTP together, and takes
// them down in order (stop taking texts, commit what is batched, then the rest).

import cron from 'node-cron';
import { createAmiClient, type AmiClient } from './asterisk/ami.js';
import { checkDialplanOnFirstConnect } from './asterisk/doctor.js';
import { makeAddressMatcher } from './config/cidr.js';
import { configWarnings } from './config/warnings.js';
import type { Config } from './config/types.js';
import { createHandler, listen, type HttpServer } from './http/server.js';
import { createDeliverer, type Deliverer } from './inbound/deliver.js';
import type { Logger } from './log.js';
import { openDatabase, type Db } from './store/db.js';
import { createInboundStore, type InboundStore } from './store/inbound.js';
import { createOutboundStore, type OutboundStore } from './store/outbound.js';
import { createFastAgiServer, type FastAgiServer } from './asterisk/fastagi.js';
import { createHandoff } from './outbound/handoff.js';
import { createNotifier } from './outbound/notify.js';
import { createReportHandler } from './outbound/reports.js';
import type { Sender } from './outbound/sender.js';
import { startApi } from './api/server.js';
import { createWriteProbe } from './store/probe.js';
import { createTextStore } from './store/texts.js';

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
  sender: Sender;
  agiPort: number;
  db: Db;
  stop(): Promise<void>;
}

export async function startDaemon(config: Config, log: Logger): Promise<Daemon> {
  const db = openDatabase(config.general.database);
  const store = createInboundStore(db, { dedupWindowMs: config.general.dedupWindowMs });
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
  // The same list `websms check-config` prints.
  for (const w of configWarnings(config)) log.warn({ code: w.code, ...(w.iface ? { iface: w.iface } : {}) }, w.message);
  const deliverer = createDeliverer({ store, ami, config: config.ami, log: log.child({ mod: 'deliver' }) });
  // Hand-offs under way share a commit (src/store/group-commit.ts); the AGI server says how many there are.
  let agiSessions = (): number => 0;
  const outbound = createOutboundStore(db, { expectedWriters: () => agiSessions() });
  const notifier = createNotifier({
    mode: config.outbound.notify,
    inbound: store,
    outbound,
    partBytes: config.ami.partBytes,
    log: log.child({ mod: 'notify' }),
    onQueued: () => deliverer.kick(),
  });
  // The sender brings axios, about 25 MB resident: load it only when some interface
  // sends, or when texts are left from a configuration that did (they must be failed).
  const waiting = outbound.counts();
  const sender: Sender = config.interfaces.some((i) => i.send.url !== '') || waiting.queued + waiting.sending > 0
    ? (await import('./outbound/sender.js')).createSender({ store: outbound, config, notifier, log: log.child({ mod: 'send' }), handoffs: () => agiSessions() })
    : { start: () => undefined, stop: async () => undefined, kick: () => undefined, health: () => [] };
  const onStatus = createReportHandler({ store: outbound, notifier, log: log.child({ mod: 'report' }) });

  const handler = createHandler({
    interfaces: config.interfaces,
    store,
    countryCode: config.general.countryCode,
    maxRequestBytes: config.general.maxRequestBytes,
    maxBodyBytes: config.general.maxBodyBytes,
    partBytes: config.ami.partBytes,
    trustedProxies: makeAddressMatcher(config.general.trustedProxies),
    log: log.child({ mod: 'http' }),
    onStored: () => deliverer.kick(),
    onStatus,
  });

  let http: HttpServer;
  let agi: FastAgiServer | undefined;
  // The management API: up first (its /readyz says what is still missing), down first.
  let api: HttpServer;
  try {
    api = await startApi({
      config,
      texts: createTextStore(db),
      outbound,
      probe: createWriteProbe(db),
      sender,
      ami,
      fastagiListening: () => agi?.listening() ?? false,
      onQueued: (direction) => (direction === 'out' ? sender.kick() : deliverer.kick()),
      log: log.child({ mod: 'api' }),
    });
  } catch (err) {
    db.close();
    throw err;
  }
  try {
    http = await listen(handler, config.general.listenHost, config.general.listenPort, log.child({ mod: 'http' }));
    try {
      agi = await createFastAgiServer({
        host: config.agi.listenHost,
        port: config.agi.listenPort,
        allow: makeAddressMatcher(config.agi.allow),
        timeoutMs: config.agi.handoffTimeoutMs,
        log: log.child({ mod: 'agi' }),
        scripts: { outbound: createHandoff({ store: outbound, config, log: log.child({ mod: 'handoff' }), onQueued: () => sender.kick() }) },
      });
      const server = agi;
      agiSessions = () => server.active();
    } catch (err) {
      await http.close();
      throw err;
    }
  } catch (err) {
    await api.close();
    db.close();
    throw err;
  }
  ami.start();
  deliverer.start();
  sender.start();

  // Expiry is also checked when a text is picked up; the sweep catches texts
  // that wait behind an earlier one of their conversation.
  const sweep = cron.schedule('* * * * *', () => {
    try {
      const expired = store.expireOlderThan(Date.now() - config.ami.maxAgeMs, Date.now());
      for (const r of expired) log.warn({ id: r.id, to: r.recipient }, 'inbound text expired');
      deliverer.kick();
    } catch (err) {
      log.error({ err }, 'expiry sweep failed');
    }
  });

  let stopping: Promise<void> | undefined;
  return {
    httpPort: http.port,
    apiPort: api.port,
    agiPort: agi.port,
    store,
    outbound,
    ami,
    deliverer,
    sender,
    db,
    stop() {
      stopping ??= (async () => {
        log.info({}, 'stopping');
        // Stop taking texts first, then commit what is batched.
        await api.close();
        await Promise.all([http.close(), agi!.close()]);
        store.flush();
        outbound.flush();
        await sender.stop();
        await sweep.stop();
        deliverer.stop();
        await ami.stop();
        db.close();
        log.info({}, 'stopped');
      })();
      return stopping;
    },
  };
}
