// The words a person wrote in a reply, without what their mail program added:
// the quoted message (lines starting with ">", and everything from the
// "On ... wrote:" line or a forwarded header block on), the signature (from
// the "-- " line on) and the "Sent from my phone" lines. What is left is
// texted, so when in doubt this cuts rather than sends the quote as an SMS.

/** Lines that introduce the quoted message, in the languages mail programs commonly write them. */
const ATTRIBUTION = [
  /^on\b.*\bwrote:$/i, // Gmail, Apple Mail, Thunderbird (en)
  /^le\b.*\ba écrit ?:$/i, // fr
  /^am\b.*\bschrieb\b.*:$/i, // de
  /^(den|on)\b.*\bskrev\b.*:$/i, // sv, da, no
  /^el\b.*\bescribió:$/i, // es
  /^op\b.*\bschreef\b.*:$/i, // nl
  /^il\b.*\bha scritto:$/i, // it
  /^em\b.*\bescreveu:$/i, // pt
  /^.{0,80}<[^>\s]+@[^>\s]+>\s*(wrote|skrev|schrieb|a écrit|escribió|schreef|ha scritto|escreveu)\s*:$/i,
];

/** Where the rest is the old message or a signature. */
const CUT = [
  /^-{2,}\s*(original message|ursprüngliche nachricht|message d'origine|ursprungligt meddelande|mensaje original)\s*-{2,}$/i,
  /^_{10,}$/, // Outlook's line above its header block
  /^-- ?$/, // the signature delimiter (RFC 3676)
  /^(sent from my|sent from outlook|get outlook for|skickat från min|von meinem .* gesendet|envoyé de mon)\b/i,
];

/** An Outlook-style header block of the quoted message: From: ... then Sent:/Date:/To: on the next lines. */
function headerBlockAt(lines: string[], i: number): boolean {
  if (!/^\*?(from|från|von|de|van)\s*:\*?\s/i.test(lines[i]!)) return false;
  const next = lines.slice(i + 1, i + 4).join('\n');
  return /^\*?(sent|date|skickat|datum|gesendet|envoyé|verzonden|to|till|an|à|aan)\s*:/im.test(next);
}

export function replyText(raw: string): string {
  const lines = raw.replace(/\r\n?/g, '\n').split('\n').map((l) => l.replace(/[ \t\u00a0]+$/, ''));
  const kept: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const bare = line.trim();
    if (CUT.some((re) => re.test(bare)) || headerBlockAt(lines, i)) break;
    if (ATTRIBUTION.some((re) => re.test(bare))) break;
    // An attribution a mail program wrapped over two lines: "On Mon, ... <a@b>" / "wrote:".
    const two = `${bare} ${(lines[i + 1] ?? '').trim()}`;
    if (bare !== '' && /^(wrote|skrev|schrieb|a écrit|escribió):$/i.test((lines[i + 1] ?? '').trim()) && ATTRIBUTION.some((re) => re.test(two))) break;
    if (/^>/.test(bare)) continue;
    kept.push(line);
  }
  // Blank lines at either end go; more than one in a row become one.
  const text = kept.join('\n').replace(/\n{3,}/g, '\n\n').trim();
  return text;
}
