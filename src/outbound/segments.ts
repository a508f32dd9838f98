/**
 * SMS length and encoding counting for outbound texts (GSM 03.38 / 3GPP TS 23.038).
 *
 * Facts (see /work/shared/providers.md §2):
 * - GSM-7: 160 septets in a single SMS, 153 per part of a concatenated SMS
 *   (6-octet UDH with an 8-bit reference, which is what providers normally use).
 * - Extension-table characters (form feed ^ { } \ [ ~ ] | €) are ESC + code = 2 septets.
 * - One character outside GSM-7 switches the whole message to UCS-2:
 *   70 UTF-16 code units single, 67 per part; characters outside the BMP
 *   (emoji) are a surrogate pair = 2 units.
 *
 * Decisions documented here:
 * - Parts are counted by *packing* characters, not by dividing totals: an escape
 *   pair (2 septets) and a surrogate pair (2 units) are never split across parts,
 *   they move whole to the next part (as Twilio's calculator and phones do).
 *   So a GSM-7 part may end up holding only 152 septets, a UCS-2 part 66 units.
 *   Longer grapheme clusters (ZWJ sequences, flags) are *not* kept together;
 *   only surrogate pairs are.
 * - Empty text: providers bill an empty message as one SMS, so it is reported as
 *   1 segment, 0 units, GSM-7, remaining 160.
 * - Lowercase `ç` is NOT GSM-7: position 0x09 of the standard basic set is capital
 *   `Ç`. Some implementations map `ç` onto it, Twilio's calculator does not; we
 *   follow the standard table, so `ç` forces UCS-2.
 * - A literal ESC (U+001B) in the text is not a printable GSM character and forces
 *   UCS-2; Greek capitals are matched by their Greek code points (Δ U+0394, Ω U+03A9…).
 */

export type SmsEncoding = 'GSM-7' | 'UCS-2';

export interface SegmentInfo {
  encoding: SmsEncoding;
  /** septets for GSM-7, UTF-16 code units for UCS-2 */
  units: number;
  segments: number;
  /** 160/153 or 70/67 */
  perSegment: number;
  /** units left in the last segment */
  remaining: number;
  /** distinct characters (code points) that forced UCS-2, in order of appearance, max 10 */
  nonGsm: string[];
}

export interface CountOptions {
  /**
   * 'auto' (default): switch to UCS-2 when a non-GSM character is present.
   * 'never': the sending path never uses UCS-2 (e.g. an ITSP/account that only
   *   sends GSM-7 and substitutes unsupported characters). The text is counted as
   *   GSM-7 with every non-GSM character (code point, so an emoji too) costing one
   *   septet, as if replaced by a single GSM character such as '?'. `nonGsm` still
   *   lists the offending characters so the caller can warn or reject.
   */
  unicode?: 'auto' | 'never';
}

export const GSM7_SINGLE = 160;
export const GSM7_MULTI = 153;
export const UCS2_SINGLE = 70;
export const UCS2_MULTI = 67;
const MAX_NON_GSM_REPORTED = 10;

/** GSM 03.38 basic character set, 1 septet each (ESC at 0x1B deliberately excluded). */
const GSM_BASIC = new Set<string>([
  ...'@£$¥èéùìòÇ\nØø\rÅå',
  ...'Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ',
  ...' !"#¤%&\'()*+,-./',
  ...'0123456789:;<=>?',
  ...'¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§',
  ...'¿abcdefghijklmnopqrstuvwxyzäöñüà',
]);

/** GSM 03.38 extension table: ESC + code, 2 septets each. */
const GSM_EXTENSION = new Set<string>(['\f', '^', '{', '}', '\\', '[', '~', ']', '|', '€']);

/** True when `ch` (a single code point) is in the GSM-7 basic set or extension table. */
export function isGsmChar(ch: string): boolean {
  return GSM_BASIC.has(ch) || GSM_EXTENSION.has(ch);
}

/** True when `ch` is one of the extension-table characters (costs 2 septets). */
export function isGsmExtensionChar(ch: string): boolean {
  return GSM_EXTENSION.has(ch);
}

/** True when every character of `text` can be sent as GSM-7 (basic or extension table). */
export function gsmOnly(text: string): boolean {
  for (const ch of text) if (!isGsmChar(ch)) return false;
  return true;
}

/**
 * True when every character is in the BMP, i.e. the text can be carried by strict
 * UCS-2 (an ITSP limited to UCS-2 cannot carry emoji and other astral characters).
 * Lone surrogates are not valid characters either (they do not survive UTF-8
 * encoding of the request body), so any surrogate code unit makes this false.
 */
export function fitsUcs2(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) return false;
  }
  return true;
}

/** Packs per-character costs into parts of `perPart` units without splitting a character. */
function pack(costs: number[], perPart: number): { segments: number; lastUsed: number } {
  let segments = 1;
  let used = 0;
  for (const cost of costs) {
    if (used + cost > perPart) {
      segments++;
      used = cost;
    } else {
      used += cost;
    }
  }
  return { segments, lastUsed: used };
}

export function countSegments(text: string, opts: CountOptions = {}): SegmentInfo {
  const unicode = opts.unicode ?? 'auto';
  const chars = Array.from(text); // code points; lone surrogates come out as single units
  const nonGsm: string[] = [];
  const seen = new Set<string>();
  for (const ch of chars) {
    if (!isGsmChar(ch) && !seen.has(ch)) {
      seen.add(ch);
      if (nonGsm.length < MAX_NON_GSM_REPORTED) nonGsm.push(ch);
    }
  }

  const encoding: SmsEncoding = seen.size > 0 && unicode === 'auto' ? 'UCS-2' : 'GSM-7';
  const costs =
    encoding === 'UCS-2'
      ? chars.map((ch) => ch.length) // UTF-16 code units: 2 for a surrogate pair
      : chars.map((ch) => (GSM_EXTENSION.has(ch) ? 2 : 1)); // non-GSM in 'never' mode: 1
  const units = costs.reduce((a, b) => a + b, 0);
  const single = encoding === 'UCS-2' ? UCS2_SINGLE : GSM7_SINGLE;
  const multi = encoding === 'UCS-2' ? UCS2_MULTI : GSM7_MULTI;

  if (units <= single) {
    return { encoding, units, segments: 1, perSegment: single, remaining: single - units, nonGsm };
  }
  const { segments, lastUsed } = pack(costs, multi);
  return { encoding, units, segments, perSegment: multi, remaining: multi - lastUsed, nonGsm };
}
