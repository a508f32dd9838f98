import test from 'ava';
import { NumberError } from '../src/errors.js';
import { dpLookup, isShortCode, normalizeNumber, type NumberKind } from '../src/numbers/normalize.js';

interface Row {
  in: string;
  cc?: string; // default "46"
  alnum?: boolean;
  out?: string;
  kind?: NumberKind; // default 'e164' when out is set
  country?: string;
  err?: RegExp;
  // For digit-only input: what PrivateDial's dp_lookup makes of it (null = no pattern matches).
  // When both dp and out are set, they must agree unless `better` says why we differ.
  dp?: string | null;
  better?: string;
}

const rows: Row[] = [
  // dp_lookup national pattern _0ZXXXXXX. : at least 9 characters.
  { in: '08123456', err: /too short for dp_lookup/, dp: null }, // 8: one below
  { in: '081234567', out: '+4681234567', country: 'SE', dp: '+4681234567' }, // 9: at the minimum
  { in: '0812345678', out: '+46812345678', country: 'SE', dp: '+46812345678' }, // 10: above
  { in: '0701234567', out: '+46701234567', country: 'SE', dp: '+46701234567' },
  { in: '0701234', err: /too long for a short code/, dp: null }, // 7 digits: neither
  // dp_lookup international pattern _ZXXXXXX. : at least 8 characters.
  { in: '4670123', err: /too short for dp_lookup/, dp: null }, // 7: one below
  { in: '46701234', out: '+46701234', country: 'SE', dp: '+46701234' }, // 8: at the minimum
  { in: '467012345', out: '+467012345', country: 'SE', dp: '+467012345' }, // 9: above
  { in: '46701234567', out: '+46701234567', country: 'SE', dp: '+46701234567' },
  { in: '12025550160', out: '+12025550160', country: 'US', dp: '+12025550160' },
  // Short codes: 6 digits or fewer pass unchanged.
  { in: '1', out: '1', kind: 'short', dp: null },
  { in: '112', out: '112', kind: 'short', dp: null },
  { in: '123456', out: '123456', kind: 'short', dp: null },
  { in: '12 34-56', out: '123456', kind: 'short' },
  { in: '1234567', err: /too long for a short code \(at most 6 digits\)/, dp: null },
  { in: '0', out: '0', kind: 'short', dp: null }, // leading zero only
  { in: '000000', out: '000000', kind: 'short', dp: null },
  { in: '0000000', err: /no country code after the international prefix/, dp: null },
  { in: '00000000000', err: /no country code/, dp: null },
  // 00 + country code: matches neither dp_lookup pattern, we route it anyway.
  { in: '0046701234567', out: '+46701234567', country: 'SE', dp: null },
  { in: '00 46 70-123 45 67', out: '+46701234567', country: 'SE' },
  { in: '0012025550160', cc: '1', out: '+12025550160', country: 'US', dp: null },
  { in: '0046701', err: /^\+46701 is too short for Sweden \(\+46\)$/, dp: null },
  // 011: international only under NANP; national 0 + 11... elsewhere, as dp_lookup does.
  { in: '01146701234567', cc: '1', out: '+46701234567', country: 'SE', dp: '+11146701234567', better: 'dp_lookup knows no 011' },
  { in: '011 44 20 7946 0018', cc: '1', out: '+442079460018', country: 'GB' },
  { in: '0114123456', out: '+46114123456', country: 'SE', dp: '+46114123456' },
  { in: '01146701234567', err: /^\+461146701234567 is too long for Sweden \(\+46\)$/, dp: '+461146701234567' },
  // Country code 1: dp_lookup is followed even where NANP habits differ.
  { in: '12025550160', cc: '1', out: '+12025550160', country: 'US', dp: '+12025550160' },
  { in: '12025550169', cc: '1', out: '+12025550169', country: 'US', dp: '+12025550169' },
  { in: '2025550160', cc: '1', out: '+2025550160', country: 'EG', dp: '+2025550160' }, // 10-digit NANP is read as +20 (Egypt), like PrivateDial
  { in: '02025550160', cc: '1', out: '+12025550160', country: 'US', dp: '+12025550160' },
  { in: '0701234567', cc: '1', err: /^\+1701234567 is too short for \+1$/, dp: '+1701234567' }, // dp_lookup's rewrite, then rejected
  // + forms and separators.
  { in: '+46701234567', out: '+46701234567', country: 'SE' },
  { in: ' +46 70-123 45 67 ', out: '+46701234567', country: 'SE' },
  { in: '+46 (0)70 123 45 67', out: '+46701234567', country: 'SE' }, // national 0 after +46 dropped
  { in: '+1 (202) 555-0160', out: '+12025550160', country: 'US' },
  { in: '+1.202.555.0165', out: '+12025550165', country: 'US' },
  { in: '+80012345678', out: '+80012345678' }, // non-geographic: no country
  { in: '+4670123', err: /^\+4670123 is too short for Sweden \(\+46\)$/ },
  { in: '+4670123456789012', err: /^\+4670123456789012 is too long for Sweden \(\+46\)$/ },
  { in: '+441234', err: /^\+441234 is too short for \+44$/ },
  { in: '+999123456789', err: /^unknown country code \+999$/ },
  { in: '+0046701234567', err: /no country code/ },
  { in: '+46+70', err: /characters other than digits/ },
  // tel: URIs.
  { in: 'tel:+46-70-123-45-67', out: '+46701234567', country: 'SE' },
  { in: 'tel:+1-202-555-0161;phone-context=example.com', out: '+12025550161', country: 'US' },
  { in: 'TEL:0701234567', out: '+46701234567', country: 'SE' },
  // sip:, sips:, pjsip: URIs.
  { in: 'sip:+46701234567@pbx.example.com', out: '+46701234567', country: 'SE' },
  { in: '<sip:+46701234567@10.0.0.1:5060;transport=udp>', out: '+46701234567', country: 'SE' },
  { in: 'sips:0701234567@host', out: '+46701234567', country: 'SE' },
  { in: 'pjsip:+12025550162@trunk', out: '+12025550162', country: 'US' },
  { in: 'sip:1234@host', out: '1234', kind: 'short' },
  { in: 'sip:pbx.example.com', err: /no user part/ },
  // Display names.
  { in: '"Alice" <sip:+46701234567@host>', out: '+46701234567', country: 'SE' },
  { in: 'Alice Smith <sip:0701234567@host>;tag=abc', out: '+46701234567', country: 'SE' },
  { in: '"Bob <b>" <tel:+12025550163>', out: '+12025550163', country: 'US' },
  { in: '"Alice" <sip:+46701234567@host', err: /^malformed address / },
  // Alphanumeric sender ids.
  { in: 'Bank', alnum: true, out: 'Bank', kind: 'alphanumeric' },
  { in: '46elks', alnum: true, out: '46elks', kind: 'alphanumeric' },
  { in: 'INFO-SMS', alnum: true, out: 'INFO-SMS', kind: 'alphanumeric' },
  { in: 'Bank', err: /^number has letters: "Bank"/ },
  { in: '46elks', err: /number has letters/ },
  { in: 'TwelveChars1', alnum: true, err: /longer than 11 characters/ },
  { in: 'Åhléns', alnum: true, err: /may only use A-Z.*"\\u00c5hl\\u00e9ns"$/ },
  { in: '+46 70 123 45 67 ext', err: /number has letters/ },
  // Garbage.
  { in: '', err: /^empty number$/ },
  { in: '   ', err: /^empty number$/ },
  { in: '()-', err: /^empty number$/ },
  { in: '+', err: /^empty number$/ },
  { in: '*123#', err: /characters other than digits/ },
  { in: '0701234567\n', err: /^number contains control characters: "0701234567\\n"$/ },
  { in: '07012\u000034567', err: /control characters: "07012\\u000034567"$/ },
  { in: '\r\n', err: /control characters/ },
  { in: '\u202e+46701234567', err: /characters other than digits.*"\\u202e\+46701234567"$/ },
  { in: '1'.repeat(65), err: /^number is longer than 64 characters: "1{32}"\.\.\.$/ },
];

for (const row of rows) {
  const cc = row.cc ?? '46';
  const shown = JSON.stringify(row.in).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const title = `normalize ${shown} cc=${cc}${row.alnum ? ' alnum' : ''} -> ${row.out ?? 'error'}`;
  test(title, (t) => {
    if (row.dp !== undefined) t.is(dpLookup(row.in, cc), row.dp ?? undefined, 'dpLookup');
    const opts = { countryCode: cc, allowAlphanumeric: row.alnum };
    if (row.err) {
      const err = t.throws(() => normalizeNumber(row.in, opts), { instanceOf: NumberError });
      t.regex(err!.reason, row.err);
      t.is(err!.input, row.in);
      t.notRegex(err!.reason, /\p{Cc}/u, 'no control characters copied into the reason');
      return;
    }
    const got = normalizeNumber(row.in, opts);
    t.deepEqual(got, {
      number: row.out!,
      kind: row.kind ?? 'e164',
      ...(row.country ? { country: row.country } : {}),
    });
    if (typeof row.dp === 'string' && !row.better) t.is(got.number, row.dp, 'agrees with dp_lookup');
  });
}

test('dpLookup reproduces both patterns exactly', (t) => {
  t.is(dpLookup('070123456', '46'), '+4670123456');
  t.is(dpLookup('07012345', '46'), undefined);
  t.is(dpLookup('46701234', '46'), '+46701234');
  t.is(dpLookup('4670123', '46'), undefined);
  t.is(dpLookup('0046701234567', '46'), undefined); // 0 then 0: not Z
  t.is(dpLookup('+46701234567', '46'), undefined);
  t.is(dpLookup('0701234567', '1'), '+1701234567');
  // Asterisk's `.` is any character, not just digits.
  t.is(dpLookup('07012345abc', '46'), '+467012345abc');
  t.is(dpLookup('0701234abc', '46'), undefined); // the 6 X must still be digits
  t.is(dpLookup('4670123#', '46'), '+4670123#');
});

test('isShortCode', (t) => {
  t.true(isShortCode('1'));
  t.true(isShortCode('123456'));
  t.true(isShortCode('12 34-56'));
  t.false(isShortCode('1234567'));
  t.false(isShortCode('+112'));
  t.false(isShortCode(''));
  t.false(isShortCode('Bank'));
});

test('a bad configured country code is a RangeError, not the sender\'s fault', (t) => {
  t.throws(() => normalizeNumber('0701234567', { countryCode: '+46' }), { instanceOf: RangeError });
  t.throws(() => normalizeNumber('0701234567', { countryCode: '0' }), { instanceOf: RangeError });
});

test('every fictional 555-01xx number is accepted', (t) => {
  for (let i = 0; i <= 9; i++) {
    t.is(normalizeNumber(`+1202555016${i}`, { countryCode: '46' }).number, `+1202555016${i}`);
  }
});
