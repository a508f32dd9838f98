// The validated configuration the rest of the daemon reads. Produced by load.ts
// from websms.conf (Asterisk-style ini) plus environment variables for secrets.

import type { Level } from '../log.js';

export interface GeneralConfig {
  /** HTTP listen address. */
  listenHost: string;
  listenPort: number;
  /** SQLite database file; its directory is created at start-up. */
  database: string;
  /** Country calling code without '+', like PrivateDial's CONTRY_CODE. */
  countryCode: string;
  /** Interface used for texts that name none. */
  defaultInterface: string;
  logLevel: Level;
  /** CIDRs of reverse proxies whose X-Forwarded-For is believed. */
  trustedProxies: string[];
  /** Largest HTTP request body accepted, in bytes. */
  maxRequestBytes: number;
  /** Largest text body accepted, in UTF-8 bytes. */
  maxBodyBytes: number;
  /** Same interface/from/to/body within this window (ms) is an ITSP retry. */
  dedupWindowMs: number;
}

export interface AmiConfig {
  host: string;
  port: number;
  username: string;
  /** Empty when none was configured. Never logged. */
  secret: string;
  /** Originate channel: Local/<to>@<answerContext>. */
  answerContext: string;
  /** Originate context the text runs in. */
  textContext: string;
  /** Every AMI action fails after this long without a response (ms). */
  actionTimeoutMs: number;
  /** Ping interval on an idle connection (ms). */
  pingIntervalMs: number;
  /** Reconnect backoff bounds (ms): capped exponential with jitter. */
  reconnectMinMs: number;
  reconnectMaxMs: number;
  /** No report from the dialplan within this long: deliver again later (ms). */
  reportTimeoutMs: number;
  /** A text longer than this many UTF-8 bytes goes as several SIP messages. */
  partBytes: number;
  /** A text not delivered within this age is marked expired (ms). */
  maxAgeMs: number;
  /** Backoff between delivery attempts (ms). */
  retryMinMs: number;
  retryMaxMs: number;
  /** Originates in flight at once. */
  maxInFlight: number;
}

export type HttpMethod = 'POST' | 'GET';

export interface InterfaceConfig {
  name: string;
  /** Provider profile; 'generic' maps fields by name. */
  provider: string;
  /** URL path of the inbound webhook, e.g. /sms/in/default. */
  path: string;
  methods: HttpMethod[];
  fieldTo: string;
  fieldFrom: string;
  fieldBody: string;
  /** Field carrying the ITSP's own message id, used for duplicate detection. */
  fieldId: string;
  /** CIDRs allowed to post to this interface. */
  allow: string[];
  /** HTTP Basic credentials; both empty when not used. */
  username: string;
  password: string;
  /** Secret path token: the webhook URL becomes <path>/<token>. Empty when not used. */
  token: string;
  /** Echo handshake: when this field is present without a text, answer its value. */
  echoField: string;
  ackBody: string;
  ackContentType: string;
}

export interface Config {
  /** The file read, or undefined when defaults were used. */
  file: string | undefined;
  general: GeneralConfig;
  ami: AmiConfig;
  interfaces: InterfaceConfig[];
}
