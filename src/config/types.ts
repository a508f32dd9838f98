// The validated configuration the rest of the daemon reads. Produced by load.ts
// from websms.conf (Asterisk-style ini) plus environment variables for secrets.

import type { Level, LogFormat } from '../log.js';

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
  logFormat: LogFormat;
  /** Bodies and media of finished texts are removed after this long (ms). */
  retentionMs: number;
  /** CIDRs of reverse proxies whose X-Forwarded-For is believed. */
  trustedProxies: string[];
  /** Largest HTTP request body accepted, in bytes. */
  maxRequestBytes: number;
  /** Largest text body accepted, in UTF-8 bytes. */
  maxBodyBytes: number;
  /** Same interface/from/to/body within this window (ms) is an ITSP retry. */
  dedupWindowMs: number;
  /** A text arriving in parts waits this long (ms, from its first part) for the rest. */
  reassemblyTimeoutMs: number;
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
  /** Fields of a text the ITSP delivers in parts (reference, part number from 1, number of parts); all empty: texts come whole. */
  fieldPartRef: string;
  fieldPartSeq: string;
  fieldPartTotal: string;
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
  /** PrivateDial's WEBSMS_INDEX value that selects this interface (its name also does). */
  index: string;
  /** The account's own number (E.164 as written, may be empty): the sender of API texts that name none. */
  number: string;
  /** Named providers: account id, its secret, the webhook signing secret or public key (secrets never logged). */
  account: string;
  secret: string;
  signingSecret: string;
  publicKey: string;
  /** The webhook URL as the provider calls it (behind a proxy); empty: from the request. */
  publicUrl: string;
  /** The provider's API base URL when not the profile's default; empty: the default. */
  apiUrl: string;
  /** Check webhook signatures where the provider signs. */
  verify: boolean;
  send: SendConfig;
}

export interface Config {
  /** The file read, or undefined when defaults were used. */
  file: string | undefined;
  general: GeneralConfig;
  ami: AmiConfig;
  agi: AgiConfig;
  outbound: OutboundConfig;
  api: ApiConfig;
  media: MediaConfig;
  web: WebConfig;
  email: EmailConfig;
  interfaces: InterfaceConfig[];
  /**
   * Every key of every section as websms.conf spells it, with where its value
   * came from; secrets as "(set)" / "(not set)". Set by the loader; absent on
   * configurations built by hand.
   */
  settings?: SectionSettings[];
  /** 'privatedial': the file was PrivateDial's PHP WebSMS websms.conf, read through src/config/privatedial.ts. */
  format?: 'privatedial';
  /** For that format: what websms does differently or does not need, with the file line (warnings at start and in check-config). */
  notes?: { line?: number; message: string }[];
}

/**
 * 'profile': the default of the interface's provider profile (its `defaults(written)`), not websms's own.
 * 'minivm': read from PrivateDial's minivm.conf ([email] minivm); `from` says where.
 */
export type SettingSource = 'file' | 'env' | 'default' | 'profile' | 'minivm';

export interface Setting {
  /** As written in the file (list keys joined with ", "), or the default; a secret never. */
  value: string;
  source: SettingSource;
  /** The file line, for source 'file'. */
  line?: number;
  /** The environment variable, for source 'env'. */
  env?: string;
  /** For a file in PrivateDial's format: the PHP key(s) the value was made from. */
  from?: string;
}

export interface SectionSettings {
  /** Section name as in the file: general, ami, ..., or the interface's name. */
  name: string;
  interface: boolean;
  /** Keys in the schema's order. */
  keys: Record<string, Setting>;
}

/** [api]: the management listener (HTTP API, health, metrics). */
export interface ApiConfig {
  listenHost: string;
  listenPort: number;
  /** Bearer token; empty when none. Never logged. */
  token: string;
}

/** [web]: the web page of conversations on the management listener (src/web/). */
export interface WebConfig {
  /** scrypt hash of the password (src/web/password.ts); empty: the page is off. Never logged. */
  password: string;
  /** How long a sign-in lasts (ms). */
  sessionLifetimeMs: number;
}

/** [media]: pictures and other media of inbound texts (MMS), fetched, kept and served as links. */
export interface MediaConfig {
  /** Base URL of the links put into texts, without a trailing "/"; empty: media are not fetched and the text says so. */
  publicUrl: string;
  /** Path on the webhook listener the media are served under (<path>/<token>). */
  path: string;
  /** Where the files are kept: a "media" directory beside the database unless set. */
  directory: string;
  /** Largest item fetched, in bytes. */
  maxBytes: number;
  /** Content types fetched and served (image/, audio/ and video/ types only, never SVG). */
  types: string[];
  /** An item is removed this long after it was fetched (ms). */
  retentionMs: number;
  /** A text waits at most this long for its media (ms). */
  maxHoldMs: number;
  /** One fetch, all of it, within this time (ms). */
  fetchTimeoutMs: number;
  /** CIDRs outside the public internet media may be fetched from; empty: public addresses only. */
  fetchAllow: string[];
  /** Fetch attempts per item. */
  attempts: number;
  /** Backoff between fetch attempts (ms). */
  retryMinMs: number;
  retryMaxMs: number;
}

export type EmailTls = 'starttls' | 'tls' | 'none';
export type EmailCopy = 'none' | 'received' | 'all';

export interface EmailUser {
  /** E.164 with "+". */
  number: string;
  /** local@domain, the domain in lower case. */
  address: string;
}

/** [email]: texts by e-mail (src/email/). No users: no e-mail at all. */
export interface EmailConfig {
  users: EmailUser[];
  /** A text no phone took within this long is e-mailed (ms); 0: never. */
  unreachedAfterMs: number;
  copy: EmailCopy;
  /** E-mail the user when one of its texts finally fails or expires. */
  failures: boolean;
  /** The From address; empty only when there are no users. */
  from: string;
  fromName: string;
  /** Where replies go; empty: the From address. */
  replyTo: string;
  /** Put a "+<token>" subaddress into the Reply-To. */
  replySubaddress: boolean;
  smtp: {
    host: string;
    port: number;
    tls: EmailTls;
    username: string;
    /** Never logged. */
    password: string;
    timeoutMs: number;
  };
  /** PEM file of extra CAs for SMTP and IMAP; empty: the system CAs. */
  caFile: string;
  /** PrivateDial's minivm.conf, read for the SMTP settings not set in [email]. */
  minivmFile: string;
  /** Pictures are attached up to this many bytes in all, linked beyond. */
  attachMaxBytes: number;
  retryMinMs: number;
  retryMaxMs: number;
  maxAgeMs: number;
  /** The loopback SMTP listener replies are delivered to; null: none. */
  replyListen: { host: string; port: number } | null;
  imap: {
    /** Empty: replies are not read from a mailbox. */
    host: string;
    port: number;
    tls: EmailTls;
    username: string;
    /** Never logged. */
    password: string;
    mailbox: string;
    pollMs: number;
  };
}

/** [agi]: the FastAGI server the dialplan hands outbound texts to. */
export interface AgiConfig {
  listenHost: string;
  listenPort: number;
  /** Asterisk addresses allowed to connect (CIDRs); loopback by default. */
  allow: string[];
  /** A hand-off is answered and closed within this time, whatever happens (ms). */
  handoffTimeoutMs: number;
}

export type NotifyMode = 'failures' | 'all' | 'none';

/** [outbound]: defaults for sending to ITSPs. */
export interface OutboundConfig {
  /** Attempts per text on one interface before it fails over or fails. */
  maxAttempts: number;
  /** A text not accepted by an ITSP within this age fails as expired (ms). */
  maxAgeMs: number;
  /** Backoff with full jitter between attempts (ms). */
  retryMinMs: number;
  retryMaxMs: number;
  /** Which outcomes are texted back to the sender. */
  notify: NotifyMode;
  /** Texts longer than this many SMS segments are refused at hand-off. */
  maxSegments: number;
}

export type SendFormat = 'form' | 'json';
export type SendAuth = 'none' | 'basic' | 'bearer' | 'form';
export type NumberFormat = 'e164' | 'digits';
/** What an ITSP can carry: any text, only UCS-2 (no characters outside the BMP), or only GSM-7. */
export type Charset = 'unicode' | 'ucs2' | 'gsm';

/** The sending side of an interface. Empty url: the interface does not send. */
export interface SendConfig {
  url: string;
  /** Named providers: the account's application the text is sent through (Bandwidth applicationId); empty: none. */
  application: string;
  format: SendFormat;
  fieldTo: string;
  fieldFrom: string;
  fieldBody: string;
  auth: SendAuth;
  username: string;
  /** Secret: Basic password, or the password form field's value. */
  password: string;
  /** Secret: bearer token. */
  bearer: string;
  /** Field names for auth = form. */
  usernameField: string;
  passwordField: string;
  /** Static extra fields sent with every text. */
  extra: Record<string, string>;
  /** Static extra fields sent only with texts that have characters outside the BMP. */
  extraUnicode: Record<string, string>;
  numberFormat: NumberFormat;
  /** "key=value" the response body must contain (JSON path or form key); empty: any 2xx. */
  success: string;
  /** Where the provider's message id is in the response (JSON path such as sid, data.id, messages.0.message-id). */
  idField: string;
  /** Field carrying our own reference for the text (idempotency / client reference); empty: none. */
  referenceField: string;
  /** HTTP header carrying an idempotency key; empty: none. */
  idempotencyHeader: string;
  charset: Charset;
  connectTimeoutMs: number;
  timeoutMs: number;
  /** PEM file of extra CA certificates to trust; certificates are always verified. */
  caFile: string;
  /** Segments per second for the whole interface; 0: no limit. */
  ratePerSecond: number;
  /** Segments per second per sending number; 0: no limit. */
  ratePerNumber: number;
  /** Requests in flight at once. */
  concurrency: number;
  /** Consecutive failures that open the circuit breaker. */
  breakerFailures: number;
  /** How long the breaker stays open before one probe (ms). */
  breakerCooldownMs: number;
  /** Interface to hand a text to when this one's attempts are exhausted; empty: none. */
  failover: string;
  /** Delivery-report (status callback) URL path; default /sms/status/<name>. */
  statusPath: string;
  /**
   * The public URL of that delivery-report webhook, token included, for
   * providers that take a callback URL with each text (Twilio's
   * StatusCallback): from the interface's public_url. Absent when public_url
   * is not set. Holds the token: never logged.
   */
  statusUrl?: string;
  statusFieldId: string;
  statusFieldStatus: string;
  statusFieldReason: string;
  /** Provider status values meaning delivered / failed; anything else counts as sent. */
  statusDelivered: string[];
  statusFailed: string[];
}
