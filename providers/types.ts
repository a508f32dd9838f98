// The one interface every ITSP adapter implements: how to send a text, how to
// read the ITSP's answer, and how to read its delivery reports. Adding a
// provider is adding one file beside this one.

import type { SendConfig } from '../src/config/types.js';

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
}
