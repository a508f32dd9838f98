import test from 'ava';
import { createTokenBucket } from '../src/outbound/ratelimit.js';
import { createBreaker } from '../src/outbound/breaker.js';
import type { TokenBucket } from '../src/outbound/ratelimit.js';

/** Takes n tokens when they are there; returns the wait otherwise. */
function take(b: TokenBucket, n: number, now: number): number {
  const w = b.wait(n, now);
  if (w === 0) b.take(n, now);
  return w;
}

test('token bucket: burst, then one token per 1/rate seconds', (t) => {
  const b = createTokenBucket(1, 1);
  t.is(take(b, 1, 0), 0);
  t.is(take(b, 1, 100), 900);
  t.is(take(b, 1, 999), 1);
  t.is(take(b, 1, 1000), 0);
});

test('token bucket: a multi-segment text costs one token per segment, and a text over the burst still goes', (t) => {
  const b = createTokenBucket(10, 10);
  t.is(take(b, 3, 0), 0);
  t.is(take(b, 7, 0), 0);
  t.is(take(b, 1, 0), 100);
  const small = createTokenBucket(1, 1);
  t.is(take(small, 5, 0), 0, 'a 5-segment text goes when the bucket is full');
  t.true(take(small, 1, 1000) > 0, 'and is paid back before the next');
  t.is(take(small, 1, 5000), 0);
});

test('token bucket: available() says how many one-segment texts could go now, and takes nothing', (t) => {
  const b = createTokenBucket(10, 10);
  t.is(b.available(0), 10);
  t.is(b.available(0), 10, 'asking took nothing');
  t.is(take(b, 7, 0), 0);
  t.is(b.available(0), 3);
  t.is(b.available(150), 4, 'one and a half tokens came back: one whole text');
  t.is(take(b, 4, 150), 0);
  t.is(b.available(150), 0, 'half a token is no text');
  t.is(b.available(200), 1);
  const small = createTokenBucket(1, 1);
  t.is(take(small, 3, 0), 0, 'a text over the burst goes when the bucket is full');
  t.is(small.available(1500), 0, 'and is paid back before the next');
  t.is(createTokenBucket(0).available(0), Infinity);
});

test('token bucket: rate 0 means unlimited', (t) => {
  const b = createTokenBucket(0);
  for (let i = 0; i < 1000; i++) t.is(take(b, 10, 0), 0);
});

test('breaker opens after N failures, probes once after the cool-down, closes on success', (t) => {
  const changes: string[] = [];
  const br = createBreaker(3, 1000, (s) => changes.push(s));
  br.failure(0);
  br.failure(10);
  t.is(br.wait(10), 0);
  br.failure(20);
  t.is(br.state(20), 'open');
  t.is(br.wait(520), 500);
  t.is(br.wait(1020), 0, 'half-open: one probe');
  br.started();
  t.true(br.wait(1021) > 0, 'only one probe at a time');
  br.failure(1100);
  t.is(br.state(1100), 'open', 'a failed probe re-opens');
  t.is(br.wait(2100), 0);
  br.started();
  br.success();
  t.is(br.state(2200), 'closed');
  t.deepEqual(changes, ['open', 'closed']);
});
