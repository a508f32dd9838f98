import test from 'ava';
import { checkHeader, checkVariable, encodeBody, splitForDelivery, splitUtf8, BODY_CHUNK_BYTES } from '../src/asterisk/encode.js';
import { toWire } from '../src/asterisk/ami.js';

const decodeChunks = (vars: Record<string, string>): Buffer => {
  const n = Number(vars.WEBSMS_BODY_PARTS);
  const bufs: Buffer[] = [];
  for (let i = 1; i <= n; i++) bufs.push(Buffer.from(vars[`WEBSMS_BODY_${i}`]!, 'base64'));
  return Buffer.concat(bufs);
};

const GSM = 'Hello world, this is a GSM text. '.repeat(47).slice(0, 1530);
const CYRILLIC = 'Привет мир '.repeat(61).slice(0, 670);
const EMOJI = '😀'.repeat(335);

for (const [name, text] of [
  ['1,530 GSM characters', GSM],
  ['670 Cyrillic characters', CYRILLIC],
  ['335 emoji', EMOJI],
  ['CR/LF inside', 'line one\r\nline two\nline three\r'.repeat(40)],
] as const) {
  test(`${name}: split into SIP parts, each chunked under the AMI line limit and byte-exact`, (t) => {
    const parts = splitForDelivery(text, 1000);
    t.true(parts.length >= 2, 'longer than one part');
    const stripped: string[] = [];
    parts.forEach((p, i) => {
      t.true(Buffer.byteLength(p, 'utf8') <= 1000);
      const marker = `(${i + 1}/${parts.length}) `;
      t.true(p.startsWith(marker));
      stripped.push(p.slice(marker.length));
      const vars = encodeBody(p);
      t.deepEqual(decodeChunks(vars), Buffer.from(p, 'utf8'));
      for (const [k, v] of Object.entries(vars)) {
        t.true(Buffer.byteLength(`Variable: ${k}=${v}\r\n`) < 1022, `line for ${k} is short`);
        if (k !== 'WEBSMS_BODY_PARTS') {
          // Each chunk is valid UTF-8 on its own: decoding it alone loses nothing.
          const raw = Buffer.from(v, 'base64');
          t.is(Buffer.from(raw.toString('utf8'), 'utf8').compare(raw), 0);
        }
      }
    });
    t.is(stripped.join(''), text);
  });
}

test('a body up to 1,000 bytes is one part without a marker', (t) => {
  const text = 'å'.repeat(500);
  t.deepEqual(splitForDelivery(text, 1000), [text]);
});

test('an emoji with modifiers is not cut between SIP parts', (t) => {
  const family = '👨‍👩‍👧‍👦';
  const text = family.repeat(60);
  const parts = splitForDelivery(text, 200);
  for (const p of parts) t.regex(p.replace(/^\(\d+\/\d+\) /, ''), /^(👨‍👩‍👧‍👦)+$/u);
});

test('part markers widen past nine parts', (t) => {
  const parts = splitForDelivery('x'.repeat(5000), 300);
  t.true(parts.length > 9);
  parts.forEach((p, i) => {
    t.true(p.startsWith(`(${i + 1}/${parts.length}) `));
    t.true(Buffer.byteLength(p) <= 300);
  });
});

test('splitUtf8 never cuts a code point and keeps the byte bound', (t) => {
  const text = 'a😀bå€'.repeat(100);
  const pieces = splitUtf8(text, 7);
  t.is(pieces.join(''), text);
  for (const p of pieces) t.true(Buffer.byteLength(p) <= 7);
  t.true(BODY_CHUNK_BYTES * 4 / 3 < 900);
});

test('encodeBody refuses more than a dialplan variable holds', (t) => {
  t.throws(() => encodeBody('x'.repeat(4096)), { message: /4095/ });
  t.notThrows(() => encodeBody('x'.repeat(4095)));
});

test('header values with CR or LF never reach the wire', (t) => {
  t.throws(() => checkHeader('Channel', 'Local/1@x\r\nAction: Originate'), { message: /control character/ });
  t.throws(() => checkHeader('Channel', 'a\nb'), { message: /control character/ });
  t.throws(() => checkHeader('Exten', 'x'.repeat(1000)), { message: /exceed/ });
  t.throws(() => checkVariable('MESSAGE(from)', 'a,b'), { message: /comma/ });
  t.throws(() => checkVariable('MESSAGE(from)', 'a"b'), { message: /quote/ });
  t.throws(() => checkVariable('bad name', 'x'), { message: /variable name/ });
  t.throws(() => toWire({ Action: 'Originate', Exten: '+1\n' }), { message: /control character/ });
  t.throws(() => toWire({ Action: 'Originate', Variable: { X: 'a\r\nAction: Hangup' } }), { message: /comma|control/ });
  t.deepEqual(toWire({ Action: 'Ping' }), { action: 'Ping' });
});
