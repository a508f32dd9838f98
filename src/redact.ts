// Every secret of the configuration taken out of what websms writes for
// people: log lines, the failure details stored with a text, what `websms
// doctor` prints. Fed from the configuration itself (every secret key, URL
// credentials and credential-like query values, the Basic credentials as they
// travel), so a secret added to the configuration is covered without anyone
// remembering to list it at each log call. Secrets reach a line in more forms
// than their own: percent-encoded in a URL or form, escaped in JSON, base64 in
// an Authorization header an ITSP echoes; each form is searched for.

import type { Config } from './config/types.js';

export type Redact = (s: string) => string;

/** What a secret is replaced with. */
export const REDACTED = '(secret)';

/**
 * Shorter values are not searched for: they would blank out ordinary words and
 * numbers in every line (a 3-character secret is no secret anyway).
 */
export const MIN_SECRET_LENGTH = 4;

/** Query parameter names whose values are credentials (api_key, token, sig, password, ...). */
const SECRET_PARAM = /key|token|secret|pass|pwd|auth|sig|cred|session/i;

export const noRedaction: Redact = (s) => s;

/** Every secret the configuration holds, each as configured. */
export function secretsOf(config: Config): string[] {
  const out: string[] = [config.ami.secret, config.api.token];
  for (const i of config.interfaces) {
    const s = i.send;
    out.push(i.password, i.token, i.secret, i.signingSecret, s.password, s.bearer);
    // As an Authorization header carries them, which an ITSP may echo back.
    out.push(basic(i.username, i.password), basic(s.username, s.password), basic(i.account, i.secret), basic(s.username, i.secret));
    for (const u of [s.url, i.apiUrl, i.publicUrl, s.statusUrl ?? '']) out.push(...urlSecrets(u));
    for (const [k, v] of [...Object.entries(s.extra), ...Object.entries(s.extraUnicode)]) if (SECRET_PARAM.test(k)) out.push(v);
  }
  // [email]: the SMTP and IMAP passwords, and the SMTP login as AUTH PLAIN and AUTH LOGIN carry it (a server may echo it).
  const { smtp, imap } = config.email;
  out.push(smtp.password, imap.password, basic(imap.username, imap.password));
  if (smtp.password !== '') out.push(Buffer.from(`\0${smtp.username}\0${smtp.password}`, 'utf8').toString('base64'), Buffer.from(smtp.password, 'utf8').toString('base64'));
  return out;
}

function basic(user: string, password: string): string {
  return user === '' || password === '' ? '' : Buffer.from(`${user}:${password}`, 'utf8').toString('base64');
}

/** The password (and user) in a URL's userinfo, and the values of credential-like query parameters. */
export function urlSecrets(raw: string): string[] {
  if (raw === '') return [];
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return [];
  }
  const out: string[] = [];
  if (url.password !== '') out.push(decoded(url.password), decoded(url.username));
  for (const [k, v] of url.searchParams) if (SECRET_PARAM.test(k)) out.push(v);
  return out;
}

function decoded(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The ways a secret shows up in text: as it is, escaped in JSON, percent-encoded (URL and form style). */
function formsOf(secret: string): string[] {
  const forms = [secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret), new URLSearchParams({ s: secret }).toString().slice(2)];
  // A multi-line secret (a PEM key from the environment) shows up a line at a time.
  for (const piece of secret.split(/\s+/)) if (piece.length >= 16 && !piece.startsWith('-----')) forms.push(piece);
  return forms;
}

/** A function that replaces every form of every secret with "(secret)"; longer matches first, so no tail of one is left. */
export function createRedactor(secrets: Iterable<string>): Redact {
  const forms = new Set<string>();
  for (const s of secrets) {
    if (s.length < MIN_SECRET_LENGTH) continue;
    for (const f of formsOf(s)) if (f.length >= MIN_SECRET_LENGTH) forms.add(f);
  }
  if (forms.size === 0) return noRedaction;
  const pattern = new RegExp([...forms].sort((a, b) => b.length - a.length).map(escapeRegExp).join('|'), 'g');
  return (s) => s.replace(pattern, REDACTED);
}

/** The redactor of a configuration, and of the ones before it: a line about an old text may still carry an old secret. */
export function redactorFor(...configs: Config[]): Redact {
  return createRedactor(configs.flatMap(secretsOf));
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}
