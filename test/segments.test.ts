import test from 'ava';
import { countSegments, fitsUcs2, gsmOnly, isGsmChar, type SegmentInfo } from '../src/outbound/segments.js';

const a = (n: number): string => 'a'.repeat(n);
const zh = (n: number): string => 'ж'.repeat(n); // Cyrillic: BMP, non-GSM → UCS-2, 1 unit each
const EMOJI = '😀'; // U+1F600, surrogate pair

type Row = [name: string, text: string, expected: Partial<SegmentInfo>];

const table: Row[] = [
  ['empty text: 1 segment, 0 units', '', { encoding: 'GSM-7', units: 0, segments: 1, perSegment: 160, remaining: 160, nonGsm: [] }],
  ['160 GSM chars = 1 segment', a(160), { encoding: 'GSM-7', units: 160, segments: 1, perSegment: 160, remaining: 0 }],
  ['161 GSM chars = 2 segments', a(161), { encoding: 'GSM-7', units: 161, segments: 2, perSegment: 153, remaining: 145 }],
  ['306 GSM chars = 2 segments', a(306), { units: 306, segments: 2, remaining: 0 }],
  ['307 GSM chars = 3 segments', a(307), { units: 307, segments: 3, remaining: 152 }],
  ['70 UCS-2 chars = 1 segment', zh(70), { encoding: 'UCS-2', units: 70, segments: 1, perSegment: 70, remaining: 0, nonGsm: ['ж'] }],
  ['71 UCS-2 chars = 2 segments', zh(71), { encoding: 'UCS-2', units: 71, segments: 2, perSegment: 67, remaining: 63 }],
  ['134 UCS-2 chars = 2 segments', zh(134), { units: 134, segments: 2, remaining: 0 }],
  ['135 UCS-2 chars = 3 segments', zh(135), { units: 135, segments: 3, remaining: 66 }],
  ['one emoji turns the whole message to UCS-2', a(100) + EMOJI, { encoding: 'UCS-2', units: 102, segments: 2, nonGsm: [EMOJI] }],
  ['a lone emoji is 2 UCS-2 units', EMOJI, { encoding: 'UCS-2', units: 2, segments: 1, remaining: 68 }],
  ['35 emoji fit one SMS', EMOJI.repeat(35), { encoding: 'UCS-2', units: 70, segments: 1, remaining: 0 }],
  ['36 emoji: 33 per part, odd unit wasted', EMOJI.repeat(36), { units: 72, segments: 2, remaining: 67 - 6 }],
  ['80 € = 160 septets = 1 segment', '€'.repeat(80), { encoding: 'GSM-7', units: 160, segments: 1, remaining: 0, nonGsm: [] }],
  ['81 € = 162 septets = 2 segments', '€'.repeat(81), { encoding: 'GSM-7', units: 162, segments: 2 }],
  ['{} costs 4 septets', '{}', { units: 4 }],
  ['159 plain + € = 161 septets = 2 segments', a(159) + '€', { units: 161, segments: 2 }],
  ['all extension chars cost 2 each', '\f^{}\\[~]|€', { encoding: 'GSM-7', units: 20 }],
  // 152 plain + '€' → the escape pair does not fit in part 1 (1 septet left), it moves whole to part 2.
  ['escape pair at the 153 boundary is not split', a(152) + '€' + a(151), { units: 305, segments: 2, remaining: 0 }],
  ['escape pair moved: 152 + € + 152 needs 3 parts (division would say 2)', a(152) + '€' + a(152), { units: 306, segments: 3, remaining: 152 }],
  ['escape pair exactly at the end of part 1 stays', a(151) + '€' + a(153), { units: 306, segments: 2, remaining: 0 }],
  ['emoji at the 67 boundary is not split', zh(66) + EMOJI + zh(65), { encoding: 'UCS-2', units: 133, segments: 2, remaining: 0 }],
  ['emoji moved: 66 + emoji + 66 needs 3 parts (division would say 2)', zh(66) + EMOJI + zh(66), { units: 134, segments: 3, remaining: 66 }],
  ['lowercase ç is non-GSM (standard table has only Ç)', 'ça va', { encoding: 'UCS-2', units: 5, nonGsm: ['ç'] }],
  ['capital Ç is GSM (0x09)', 'Ça va', { encoding: 'GSM-7', units: 5, nonGsm: [] }],
  ['CR/LF are GSM, 1 septet each', 'line\r\nline\n', { encoding: 'GSM-7', units: 11 }],
  ['curly quotes force UCS-2', 'it’s “ok”', { encoding: 'UCS-2', units: 9, nonGsm: ['’', '“', '”'] }],
  ['basic-set specials stay GSM', '@£$¥èéùìòØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà', { encoding: 'GSM-7', units: 41 }],
  ['backtick forces UCS-2', '`', { encoding: 'UCS-2', nonGsm: ['`'] }],
  ['literal ESC forces UCS-2', '\u001b', { encoding: 'UCS-2', units: 1 }],
];

for (const [name, text, expected] of table) {
  test(`countSegments: ${name}`, (t) => {
    const info = countSegments(text);
    t.like(info, expected);
    // invariants
    const cap = info.segments === 1 ? info.perSegment : info.perSegment * info.segments;
    t.true(info.units <= cap);
    t.true(info.remaining >= 0 && info.remaining <= info.perSegment);
  });
}

// ClickSend multipart totals (providers.md §2.1): max length for n segments.
const GSM_TOTALS = [160, 306, 459, 612, 765, 918, 1071, 1224];
const UCS2_TOTALS = [70, 134, 201, 268, 335, 402, 469, 536];

test('property: GSM-7 multipart totals, n chars fit n segments, one more needs n+1', (t) => {
  GSM_TOTALS.forEach((max, i) => {
    const n = i + 1;
    t.like(countSegments(a(max)), { encoding: 'GSM-7', units: max, segments: n, remaining: 0 }, `n=${n}`);
    t.is(countSegments(a(max + 1)).segments, n + 1, `n=${n} +1`);
    // also with extension chars only (even length): max/2 € chars
    if (max % 2 === 0 && n === 1) t.is(countSegments('€'.repeat(max / 2)).segments, n);
  });
});

test('property: UCS-2 multipart totals, n units fit n segments, one more needs n+1', (t) => {
  UCS2_TOTALS.forEach((max, i) => {
    const n = i + 1;
    t.like(countSegments(zh(max)), { encoding: 'UCS-2', units: max, segments: n, remaining: 0 }, `n=${n}`);
    t.is(countSegments(zh(max + 1)).segments, n + 1, `n=${n} +1`);
  });
});

test('property: packing never beats division and never splits pairs (random texts)', (t) => {
  let seed = 12345;
  const rnd = (k: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % k;
  };
  const alphabets = [['a', '€', '{'], ['ж', EMOJI, 'b']];
  for (let iter = 0; iter < 300; iter++) {
    const alpha = alphabets[iter % 2]!;
    let s = '';
    const len = rnd(600);
    for (let i = 0; i < len; i++) s += alpha[rnd(alpha.length)];
    const info = countSegments(s);
    const single = info.encoding === 'GSM-7' ? 160 : 70;
    const multi = info.encoding === 'GSM-7' ? 153 : 67;
    const byDivision = info.units <= single ? 1 : Math.ceil(info.units / multi);
    t.true(info.segments >= byDivision);
    // each skipped unit wastes at most 1 unit per part
    if (info.units > single) t.true(info.units <= info.segments * multi);
  }
});

test('nonGsm lists distinct characters, max 10, in order of appearance', (t) => {
  const info = countSegments('ááááéíóúâêîôûãõœ');
  t.is(info.encoding, 'UCS-2');
  t.deepEqual(info.nonGsm, ['á', 'í', 'ó', 'ú', 'â', 'ê', 'î', 'ô', 'û', 'ã']);
});

test("unicode: 'never' counts as GSM-7, non-GSM code points cost 1 septet each", (t) => {
  const info = countSegments(`ça ${EMOJI} €`, { unicode: 'never' });
  t.like(info, { encoding: 'GSM-7', units: 7, segments: 1, perSegment: 160, remaining: 153 });
  t.deepEqual(info.nonGsm, ['ç', EMOJI]);
  t.is(countSegments(zh(161), { unicode: 'never' }).segments, 2);
  t.is(countSegments(zh(161), { unicode: 'auto' }).encoding, 'UCS-2');
});

test('isGsmChar', (t) => {
  for (const ch of ['a', 'Z', '0', '@', '\n', '\r', ' ', 'Ç', 'Δ', 'ß', '€', '{', '|', '\f']) t.true(isGsmChar(ch), JSON.stringify(ch));
  for (const ch of ['ç', '`', '’', '…', '\u00a0', 'á', 'α', EMOJI, '\u001b', '\t', 'ab', '']) t.false(isGsmChar(ch), JSON.stringify(ch));
});

test('gsmOnly', (t) => {
  t.true(gsmOnly(''));
  t.true(gsmOnly('Hello {world} €5 ~ [ok]\r\n'));
  t.false(gsmOnly('Hello ça va'));
  t.false(gsmOnly(`hi ${EMOJI}`));
});

test('fitsUcs2', (t) => {
  t.true(fitsUcs2(''));
  t.true(fitsUcs2('Привет, ça va? “quotes” …'));
  t.false(fitsUcs2(`hi ${EMOJI}`));
  t.false(fitsUcs2('🇸🇪'));
  t.false(fitsUcs2('\ud800')); // lone surrogate
});
