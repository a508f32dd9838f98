// Why a text was not sent, said twice. For the person who sent it: one of a
// few short reasons, each with what they can do about it; it is the text's
// stored reason and what the failure notice texts to their phone. An ITSP's
// own words can hold anything (an echoed credential, an account id, an
// internal host): they never reach a phone. For whoever runs websms: the
// detail (HTTP status and the ITSP's words, or the network or TLS error), with
// every configured secret taken out, in the text's history, the API's
// interface health and the log; the ITSP's raw answer only at debug.

export type FailureKind = 'number' | 'refused' | 'account' | 'unreachable' | 'provider' | 'busy' | 'setup' | 'expired' | 'undelivered';

interface Wording {
  /** What happened, short: the stored reason while websms still tries. */
  reason: string;
  /** What the person can do, once websms has given up. */
  action: string;
}

const WORDING: Record<FailureKind, Wording> = {
  number: { reason: 'the provider refused the number', action: 'check the number and send it again' },
  refused: { reason: 'the provider refused the text', action: 'check the number and the text, then send it again' },
  account: { reason: 'the provider account needs attention (credit or credentials)', action: 'tell your administrator' },
  unreachable: { reason: 'the provider could not be reached', action: 'send it again later' },
  provider: { reason: 'the provider had a problem', action: 'send it again later' },
  busy: { reason: 'the provider was too busy', action: 'send it again later' },
  setup: { reason: 'this phone system is not set up to send it', action: 'tell your administrator' },
  expired: { reason: 'no provider took it in time', action: 'send it again later' },
  undelivered: { reason: 'the provider could not deliver it', action: 'check the number, or send it again later' },
};

export const FAILURE_KINDS = Object.keys(WORDING) as FailureKind[];

/** The short reason, while websms is still trying. */
export function shortReason(kind: FailureKind): string {
  return WORDING[kind].reason;
}

/** The reason once websms has given up: what happened and what to do. */
export function finalReason(kind: FailureKind): string {
  const w = WORDING[kind];
  return `${w.reason}; ${w.action}`;
}

// Words in an ITSP's refusal that say whose problem it is. The account's
// first: "trial accounts cannot send to unverified numbers" is for the
// administrator, not the sender.
const ACCOUNT_WORDS =
  /\b(credit|balance|funds?|insufficient|payment|billing|unauthori[sz]ed|not authori[sz]ed|authenticat\w*|credentials?|api[ _-]?key|token|suspended|disabled|inactive|permission|trial|forbidden|quota|not enabled|not provisioned)\b/i;
// The sending number is the account's (not the sender's) to fix.
const SENDER_WORDS = /['"]from['"]|\b(sender|originator|caller ?id|from (number|address)|source (number|address))\b/i;
const NUMBER_WORDS = /['"]to['"]|\b(number|recipient|destination|msisdn|phone|dst|landline|unsubscribed|opt(ed)?[ -]?out|blacklist\w*|blocked|unreachable)\b/i;

/**
 * An ITSP's answer that is not a success: `retry` and `permanent` as the
 * profile classed it, `status` its HTTP status, `words` what the profile read
 * out of it (never shown to the sender).
 */
export function answerFailure(outcome: 'retry' | 'permanent', status: number, words: string): FailureKind {
  if (outcome === 'retry') return status === 429 ? 'busy' : 'provider';
  if (status === 401 || status === 402 || status === 403 || ACCOUNT_WORDS.test(words)) return 'account';
  if (NUMBER_WORDS.test(words)) return SENDER_WORDS.test(words) ? 'account' : 'number';
  // A send URL that is not there (a wrong account id in it, say) or does not take POST.
  if (status === 404 || status === 405 || status === 410) return 'account';
  return 'refused';
}
