// The one interface every ITSP adapter implements: how to send a text, how to
// read the ITSP's answer, and how to read its delivery reports. Adding a
// provider is adding one file beside this one.

import type { InterfaceConfig, SendConfig } from '../src/config/types.js';

export interface OutgoingText {
  /** Our id of the text. */
  id: number;
  /** E.164 with '+'; the adapter formats numbers as the interface asks. */
  from: string;
  to: string;
  body: string;
  /** Our reference for the text, stable across retries: an idempotency key where the ITSP takes one. */
  reference: string;
}

export interface SendRequest {
  method: 'POST' | 'GET';
  url: string;
  headers: Record<string, string>;
  body?: string;
}

export interface HttpAnswer {
  status: number;
  /** Lower-case header names. */
  headers: Record<string, string>;
  body: string;
}

export type SendOutcome =
  /** The ITSP took the text; providerId is its message id when it gave one. */
  | { kind: 'accepted'; providerId: string | null }
  /** Try again later: rate limited, unavailable, server error. */
  | { kind: 'retry'; reason: string; retryAfterMs?: number }
  /** The ITSP refused the text for good; reason is its own words where it gave any. */
  | { kind: 'permanent'; reason: string };

export interface StatusReport {
  providerId: string;
  state: 'sent' | 'delivered' | 'failed';
  reason: string | null;
}

/** What a credentials check found; never carries a secret. */
export type CredentialsCheck = { ok: true; detail: string } | { ok: false; reason: string };

// ---- inbound webhooks (issue 10) -------------------------------------------

/** A webhook request as an adapter sees it, after the interface's address rules. */
export interface WebhookRequest {
  method: 'GET' | 'POST';
  /**
   * The URL the provider called, as it signed it: the interface's public_url
   * (plus the path's token, and the query string) behind a reverse proxy, else
   * rebuilt from the request (scheme from X-Forwarded-Proto of a trusted proxy).
   */
  url: string;
  /** Lower-case names; a repeated header joined with ", ". */
  headers: Record<string, string>;
  /** The body exactly as received (signatures are over bytes). Empty for GET. */
  rawBody: Buffer;
  /** Media type of the body without parameters, lower case ('' when none). */
  contentType: string;
  /** Query string and body fields merged, body winning; a JSON body as parsed (nested objects kept). */
  fields: Record<string, unknown>;
  /**
   * Which of the interface's URLs was called: its webhook (`path`) or its
   * delivery-report URL (`status_path`). Profiles whose provider posts both
   * kinds to one URL read the payload instead; generic goes by this.
   */
  route?: 'text' | 'status';
}

/** A picture or other media item of an inbound text (MMS), fetched later by websms. */
export interface MediaRef {
  url: string;
  /** As the provider announced it, when it did. */
  contentType?: string;
  /** Fetching needs the interface's send credentials (HTTP Basic), as with Twilio's media URLs when the account requires it. */
  auth?: 'none' | 'basic' | 'bearer';
}

/** One text out of a webhook. Numbers as the provider wrote them: websms normalises them. */
export interface InboundText {
  from: string;
  to: string;
  /** May be empty when the text is media only. */
  body: string;
  /** The provider's message id (duplicate detection); null when it gives none. */
  providerId: string | null;
  /** One part of a long text the provider delivers in pieces (concatenated SMS it does not join itself). */
  part?: { ref: string; seq: number; total: number };
  media: MediaRef[];
}

export type WebhookParse =
  | { kind: 'texts'; texts: InboundText[] }
  | { kind: 'status'; reports: StatusReport[] }
  /** A handshake the provider sends to check the URL (Zadarma's zd_echo): answered with this body, nothing stored. */
  | { kind: 'echo'; body: string }
  /** An event websms has no use for (Telnyx message.sent, a provider's test ping): acknowledged, nothing stored. */
  | { kind: 'ignored'; reason: string };

export type VerifyResult = { ok: true } | { ok: false; reason: string };

/** What the provider expects back once websms has stored what it posted. */
export interface WebhookAnswer {
  status: number;
  contentType: string;
  body: string;
}

/** A setting a user of this provider fills in, for `websms providers` and GET /api/providers. */
export interface ProviderSetting {
  /** The ini key in the interface section. */
  key: string;
  /** What to copy from the provider's console. */
  doc: string;
  secret: boolean;
  required: boolean;
}

export interface ProviderAdapter {
  name: string;
  /** One line for people choosing a provider (websms providers, GET /api/providers). */
  description: string;
  /**
   * Checks the send credentials without sending a text (an account or balance
   * request), where the ITSP offers one; `websms doctor` says so where it does not.
   */
  checkCredentials?(cfg: SendConfig, timeoutMs: number): Promise<CredentialsCheck>;
  buildRequest(text: OutgoingText, cfg: SendConfig): SendRequest;
  parseResponse(answer: HttpAnswer, cfg: SendConfig): SendOutcome;
  /** Reads a delivery report's fields; undefined when they are not a report. */
  parseStatus(fields: Record<string, unknown>, cfg: SendConfig): StatusReport | undefined;

  // ---- named profiles (issue 10); generic implements these from its field keys ----

  /** The settings a user of this provider writes (account, secrets, number, signing key). */
  settings?: ProviderSetting[];
  /**
   * Defaults for the interface's ini keys (send_url with the account filled in,
   * send_format, send_auth, field names, status values, ...), computed from the
   * keys the user wrote (from the file or, for secrets, the environment; a key
   * that may repeat has its values joined with "\n", and a default for one may
   * give several the same way). The user's own keys always win over these;
   * the loader applies them only when every required setting is there.
   */
  defaults?(written: Readonly<Record<string, string>>): Record<string, string>;
  /** Reads an inbound webhook (texts, delivery reports, handshakes); throws RequestError (4xx) on what it cannot read. */
  parseWebhook?(req: WebhookRequest, iface: InterfaceConfig): WebhookParse;
  /**
   * Checks that the webhook comes from the provider (its signature over the
   * URL and body). Absent when the provider does not sign: then the interface
   * relies on its URL token or address allowlist. Constant-time comparisons;
   * the reason never contains a secret.
   */
  verifyWebhook?(req: WebhookRequest, iface: InterfaceConfig, now: number): VerifyResult;
  /** The answer the provider expects to a webhook (TwiML for Twilio, the echo for Zadarma, an empty 200 elsewhere). */
  answer?(parsed: WebhookParse, iface: InterfaceConfig): WebhookAnswer;
}
