// Phone number normalisation: the E.164 rewrite PrivateDial's [dp_lookup] does,
// plus the forms ITSPs and SIP peers actually send (+, 00, 011, tel:, sip:, name-addr).
//
// Metadata choice: 'libphonenumber-js/max'. With the default 'min' metadata isValid()
// only checks the country's general pattern and length (+461234567 is "valid" with min,
// not with max), and the country of a shared calling code (+1, +44, +7) is guessed
// from coarser data. We reject only on isPossible() (length per country, identical in
// both), because isValid() would also reject real-world test and drama ranges; max is
// used so that the `country` we report is assigned from real number ranges. The
// extra size does not matter for a long-running daemon.
import {
  AsYouType,
  getCountries,
  getCountryCallingCode,
  parsePhoneNumberFromString,
  validatePhoneNumberLength,
} from 'libphonenumber-js/max';
import { NumberError } from '../errors.js';

export type NumberKind = 'e164' | 'short' | 'alphanumeric';
export interface Normalized {
  number: string;
  kind: NumberKind;
  country?: string /* ISO 3166 alpha-2 when known */;
}
export interface NormalizeOptions {
  countryCode: string;
  allowAlphanumeric?: boolean;
}

const MAX_INPUT = 64;
const MAX_SHORT = 6;
const MAX_ALNUM = 11; // GSM alphanumeric originator limit

/**
 * PrivateDial's [dp_lookup], exactly:
 *   exten => _0ZXXXXXX.,1,Goto(${CONTEXT},+${GLOBAL(CONTRY_CODE)}${EXTEN:1},1)
 *   exten => _ZXXXXXX.,1,Goto(${CONTEXT},+${EXTEN},1)
 * `.` is one or more of anything, so the patterns need at least 9 characters
 * ("0" + Z + 6 X + 1) and 8 characters (Z + 6 X + 1). The issue text says
 * "0, non-zero, at least 6 more" (8) and "at least 7 digits" (7): both one short
 * of what Asterisk matches; we follow Asterisk. Like Asterisk, `.` accepts any
 * character; normalizeNumber only ever passes digits.
 */
export function dpLookup(exten: string, countryCode: string): string | undefined {
  if (/^0[1-9][0-9]{6}[\s\S]+$/.test(exten)) return `+${countryCode}${exten.slice(1)}`;
  if (/^[1-9][0-9]{6}[\s\S]+$/.test(exten)) return `+${exten}`;
  return undefined;
}

const SEPARATORS = /[\s.\-()]/g;

/**
 * Why a normalised number cannot be one of this PBX's users, or undefined when
 * it can. PrivateDial finds a user by the hint of an E.164 number
 * (hint_exten = +46...); dp_lookup leaves a short code as it is, so no hint
 * matches it and the dialplan would refuse the text (dp_answer: Hangup(20)).
 * As a sender a short code is fine: it is only shown to the phone.
 */
export function notLocalReason(n: Normalized): string | undefined {
  if (n.kind === 'e164') return undefined;
  if (n.kind === 'short') {
    return `${n.number} is a short code, and no local user has one: PrivateDial's users have E.164 numbers (hint_exten); send the recipient as +<country code><number> or in national form`;
  }
  return `${quote(n.number)} is not a phone number`;
}

/** 1 to 6 digits once visual separators are removed, and no leading +. */
export function isShortCode(n: string): boolean {
  return new RegExp(`^[0-9]{1,${MAX_SHORT}}$`).test(n.replace(SEPARATORS, ''));
}

/** Input echoed in a reason: at most 32 characters, only printable ASCII survives as-is. */
function quote(s: string): string {
  const cut = s.length > 32;
  const json = JSON.stringify(cut ? s.slice(0, 32) : s).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return cut ? `${json}...` : json;
}

// Made on the first refusal that names a country: ICU's region names page in
// about 6 MB of Node's binary, which a daemon that never refuses need not hold.
let regionNames: Intl.DisplayNames | undefined;

/** "Sweden (+46)" when one country owns the code, "+1" for shared codes like NANP. */
function describeCode(callingCode: string): string {
  const owners = getCountries().filter((c) => getCountryCallingCode(c) === callingCode);
  return owners.length === 1 ? `${(regionNames ??= new Intl.DisplayNames(['en'], { type: 'region' })).of(owners[0]!) ?? owners[0]} (+${callingCode})` : `+${callingCode}`;
}

function toE164(e164: string, fail: (reason: string) => never): Normalized {
  // No calling code starts with 0; saying so beats "unknown country code +000".
  if (e164[1] === '0') fail('no country code after the international prefix (country codes never start with 0)');
  const parsed = parsePhoneNumberFromString(e164);
  if (parsed?.isPossible()) {
    // parsed.number is canonical: it drops a national prefix kept after the
    // country code, as in +46 (0)70..., which PrivateDial would pass through.
    return parsed.country ? { number: parsed.number, kind: 'e164', country: parsed.country } : { number: parsed.number, kind: 'e164' };
  }
  const problem = validatePhoneNumberLength(e164);
  const typed = new AsYouType();
  typed.input(e164);
  const code = parsed?.countryCallingCode ?? typed.getCallingCode();
  if (problem === 'INVALID_COUNTRY' || !code) fail(`unknown country code +${e164.slice(1, 4)}`);
  const where = describeCode(code);
  if (problem === 'TOO_SHORT') fail(`${e164} is too short for ${where}`);
  if (problem === 'TOO_LONG') fail(`${e164} is too long for ${where}`);
  fail(`${e164} has a length no number in ${where} has`);
}

/** The text inside <...> of a name-addr, the user part of a sip:/sips:/pjsip: URI, the number of a tel: URI. */
function extractUser(s: string, fail: (reason: string) => never): string {
  if (s.includes('<')) {
    const m = /^(?:"(?:[^"\\]|\\.)*"|[^"<]*)\s*<([^<>]*)>\s*(?:;.*)?$/.exec(s);
    if (!m) fail(`malformed address ${quote(s)}`);
    s = m[1]!.trim();
  }
  const uri = /^(sips?|pjsip|tel):(.*)$/i.exec(s);
  if (!uri) return s;
  const scheme = uri[1]!.toLowerCase();
  const rest = uri[2]!;
  if (scheme === 'tel') return rest.split(';')[0]!;
  const at = rest.lastIndexOf('@');
  if (at < 0) fail(`${scheme}: URI has no user part: ${quote(s)}`);
  // user[:password] and user-part parameters (;phone-context=...) are not the number.
  return rest.slice(0, at).split(/[:;?]/)[0]!;
}

// Webhooks carry the same few numbers again and again (our own DIDs above all),
// and parsing with full metadata is the costliest step of a webhook: remember
// recent successful results. Failures are not cached; they are rare and cheap to redo.
const CACHE_MAX = 2048;
const cache = new Map<string, Normalized>();

export function normalizeNumber(input: string, opts: NormalizeOptions): Normalized {
  const key = `${opts.countryCode}|${opts.allowAlphanumeric ? 1 : 0}|${input}`;
  const hit = cache.get(key);
  if (hit) return { ...hit };
  const result = normalizeUncached(input, opts);
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
  cache.set(key, result);
  return { ...result };
}

function normalizeUncached(input: string, opts: NormalizeOptions): Normalized {
  const fail: (reason: string) => never = (reason) => {
    throw new NumberError(input, reason);
  };
  const cc = opts.countryCode;
  // A bad configured code is our bug, not the sender's: not a NumberError.
  if (!/^[1-9][0-9]{0,2}$/.test(cc)) throw new RangeError(`country code must be 1-3 digits, got ${quote(cc)}`);
  if (typeof input !== 'string') fail('number is not a string');
  if (input.length > MAX_INPUT) fail(`number is longer than ${MAX_INPUT} characters: ${quote(input)}`);
  if (/[\p{Cc}\u2028\u2029]/u.test(input)) fail(`number contains control characters: ${quote(input)}`);

  const trimmed = input.trim();
  if (trimmed === '') fail('empty number');
  const user = extractUser(trimmed, fail).trim();

  if (/\p{L}/u.test(user)) {
    if (!opts.allowAlphanumeric) fail(`number has letters: ${quote(user)} (alphanumeric sender ids are not accepted here)`);
    if (user.length > MAX_ALNUM) fail(`alphanumeric sender id is longer than ${MAX_ALNUM} characters: ${quote(user)}`);
    // ASCII only, so the id survives every ITSP's and handset's character set unchanged.
    if (!/^[A-Za-z0-9][A-Za-z0-9 ._&-]*$/.test(user)) fail(`alphanumeric sender id may only use A-Z, 0-9, space and . _ & -: ${quote(user)}`);
    return { number: user, kind: 'alphanumeric' };
  }

  const stripped = user.replace(SEPARATORS, '');
  if (stripped === '' || stripped === '+') fail('empty number');
  if (!/^\+?[0-9]+$/.test(stripped)) fail(`number has characters other than digits and separators: ${quote(user)}`);

  if (stripped.startsWith('+')) return toE164(stripped, fail);
  const digits = stripped;
  if (digits.length <= MAX_SHORT) return { number: digits, kind: 'short' };
  // 011 is the international prefix only inside NANP. PrivateDial does not know it:
  // with CONTRY_CODE=1, 011 46... matches _0ZXXXXXX. and becomes +1 1 46..., a number
  // that cannot exist. Elsewhere 011... is national (Swedish 011 is Norrköping), as dp_lookup says.
  if (cc === '1' && digits.startsWith('011')) return toE164(`+${digits.slice(3)}`, fail);
  // 00 matches neither dp_lookup pattern, so PrivateDial leaves it unrouted; it is the
  // ITU international prefix, and under NANP it is not a useful national number either.
  if (digits.startsWith('00')) return toE164(`+${digits.slice(2)}`, fail);
  const e164 = dpLookup(digits, cc);
  if (!e164) {
    fail(
      `${digits} is too long for a short code (at most ${MAX_SHORT} digits) and too short for dp_lookup ` +
        '(0 and at least 8 more digits for national, at least 8 digits for international)',
    );
  }
  return toE164(e164, fail);
}
