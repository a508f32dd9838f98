// Calls through a real Asterisk 22 with the shipped dialplan: phones that
// place and answer calls over SIP/UDP with G.711 audio (test/doubles/
// sip-call.ts), MiniVM voicemail, calls that cannot go out. Needs a runnable
// Asterisk (test/helpers/asterisk-build.ts); without one, one skipped test
// says why.
import test from 'ava';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { callPhone, type Call } from './doubles/sip-call.js';
import { rms, toneHz, ulawDecode } from './doubles/rtp.js';
import { findAsterisk } from './helpers/asterisk-build.js';
import { startPbxStack, type PbxStack } from './helpers/asterisk-stack.js';
import { sleep, until } from './helpers/stack.js';
import { tempDir } from './helpers/tmp.js';

const found = findAsterisk();

/** Voicemail settings: phones ring 2 s, dialplan steps in the log. */
const VOICEMAIL = { dialTimeout: 2, traceDialplan: true };

/**
 * The caller talks (its tone) for `ms` once MiniVM records, then hangs up, as
 * callers end a message. Needs traceDialplan (VOICEMAIL has it): MinivmRecord starts with the
 * beep (about half a second), then records.
 */
async function leaveMessage(s: PbxStack, call: Call, ms = 2000): Promise<void> {
  const records = (): number => s.pbx.log().match(/Executing \[s@sub_voicemail:\d+\] MinivmRecord\(/g)?.length ?? 0;
  const before = records(); // called while the greeting plays: this call's MinivmRecord is still to come
  await until(() => records() > before, 25_000, 'MinivmRecord to start');
  await sleep(600 + ms);
  await call.hangup();
}

/** The files of recordings in MiniVM's spool (a recording is its metadata file and its .WAV). */
function recordings(s: PbxStack): string[] {
  const spool = s.pbx.voicemailDir;
  const dirs = [path.join(spool, '0000_minivm_temp', 'mediafiles')];
  for (const domain of fs.existsSync(spool) ? fs.readdirSync(spool) : []) {
    const d = path.join(spool, domain);
    if (fs.statSync(d).isDirectory()) for (const user of fs.readdirSync(d)) dirs.push(path.join(d, user, 'tmp'));
  }
  return dirs.filter((d) => fs.existsSync(d)).flatMap((d) => fs.readdirSync(d).map((f) => path.join(d, f)));
}

/** WARNING and ERROR lines of Asterisk's log. */
const warnings = (s: PbxStack): string[] => s.pbx.log().split('\n').filter((l) => /\] (WARNING|ERROR)\[/.test(l));

/** The samples of a mail's attached recording, converted by Asterisk itself (file convert) to mu-law. */
async function recordedSamples(s: PbxStack, mail: { attachment: Buffer }): Promise<number[]> {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'message.WAV'), mail.attachment);
  const out = await s.pbx.cli(`file convert ${dir}/message.WAV ${dir}/message.ulaw`);
  if (!fs.existsSync(path.join(dir, 'message.ulaw'))) throw new Error(`file convert of ${mail.attachment.length} bytes: ${out}`);
  return [...fs.readFileSync(path.join(dir, 'message.ulaw'))].map(ulawDecode);
}

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
    const [answering, ringing] = await Promise.all(bobs.map((b) => b.waitForIncoming(3000)));
    t.is((await ringing!.ended), 'cancelled', 'the other phone stops ringing');
    await sleep(1500);
    const heardByBob = answering!.rtp.samples.slice(-4000);
    const heardByAlice = call.rtp.samples.slice(-4000);
    t.log(`bob heard rms ${rms(heardByBob).toFixed(0)} at ${toneHz(heardByBob).toFixed(0)} Hz, alice ${rms(heardByAlice).toFixed(0)} at ${toneHz(heardByAlice).toFixed(0)} Hz`);
    await call.hangup();
    t.is(await answering!.ended, 'remote');
  });

  test.serial('busy: both phones answer 486, the caller leaves a voicemail, e-mailed with the recording and a proper To:, and nothing is logged as a warning', async (t) => {
    const s = await startPbxStack(t, build, { bob: { mailbox: 'bob@example.com' }, pbx: VOICEMAIL });
    const alice = callPhone(s.alice.phones[0]);
    const bobs = s.bob.phones.map(callPhone);
    for (const b of bobs) b.answerMode = 'busy';
    const call = await alice.dial(s.bob.number, { hz: 440 });
    t.is((await call.final).status, 200, 'voicemail answers');
    for (const b of bobs) t.is((await (await b.waitForIncoming()).final).status, 486);
    await leaveMessage(s, call);
    const mail = await s.voicemail.waitForMail();
    t.regex(mail.text, /^To: bob@example\.com$/m, 'the address alone, not To: "" <...>');
    t.regex(mail.text, /^Subject: .*alice/m);
    // sent by websms's own e-mail: queued in the outbox with the recording saved beside the database
    t.like(mail.outbox, { kind: 'voicemail', recipient: 'bob@example.com', subject: 'Voicemail from "alice" <+46701111111>' });
    t.deepEqual(fs.readFileSync(mail.outbox.attachments[0]!.path), mail.attachment, 'the outbox attaches the very recording');
    const audio = await recordedSamples(s, mail);
    t.true(rms(audio) > 1000, `the recording holds the caller's tone (rms ${rms(audio).toFixed(0)})`);
    t.true(Math.abs(toneHz(audio) - 440) < 40, `at 440 Hz (${toneHz(audio).toFixed(0)})`);
    t.deepEqual(warnings(s), [], 'no warning in Asterisk\'s log: the greetings that do not exist are not played');
    await until(() => recordings(s).length === 0, 5000, 'the recording deleted by the mail command once websms stored it');
    t.regex(s.pbx.output(), /websms voicemail-mail: stored as voicemail 1; recording removed: .*\.WAV/);
  });

  test.serial('no answer: both phones ring until cancelled, the recorded unavailable greeting is played, the message is stored and its recording deleted', async (t) => {
    const s = await startPbxStack(t, build, { bob: { mailbox: 'bob@example.com' }, pbx: VOICEMAIL });
    // a greeting as MinivmAccMess (*1) would leave it; any format Asterisk plays
    const dir = path.join(s.pbx.voicemailDir, 'example.com', 'bob');
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(path.join(build.data, 'sounds', 'en', 'vm-goodbye.gsm'), path.join(dir, 'unavailable.gsm'));
    const alice = callPhone(s.alice.phones[0]);
    const bobs = s.bob.phones.map(callPhone);
    for (const b of bobs) b.answerMode = 'ring';
    const call = await alice.dial(s.bob.number, { hz: 440 });
    const rung = await Promise.all(bobs.map((b) => b.waitForIncoming()));
    for (const r of rung) t.is(await r.ended, 'cancelled', 'each phone stops ringing after DIAL_TIMEOUT');
    t.is((await call.final).status, 200);
    await leaveMessage(s, call);
    const mail = await s.voicemail.waitForMail();
    t.is(mail.recipient, 'bob@example.com');
    t.true(rms(await recordedSamples(s, mail)) > 1000);
    t.regex(s.pbx.log(), new RegExp(`Playback\\("PJSIP/alice-\\w+", "${dir}/unavailable"\\)`), 'the greeting that exists is played');
    t.notRegex(s.pbx.log(), /Playback\("PJSIP\/alice-\w+", "[^"]*\/(temp|busy|greet)"\)/, 'the ones that do not are not');
    t.deepEqual(warnings(s), []);
    await until(() => recordings(s).length === 0, 5000, 'the recording deleted');
  });

  test.serial('a voicemail whose mail command fails (websms stopped) keeps its recording and says why; the next voicemail hands both over', async (t) => {
    const s = await startPbxStack(t, build, { bob: { mailbox: 'bob@example.com' }, pbx: VOICEMAIL });
    await s.stopWebsms();
    const alice = callPhone(s.alice.phones[0]);
    for (const b of s.bob.phones.map(callPhone)) b.answerMode = 'busy';
    const first = await alice.dial(s.bob.number, { hz: 440 });
    t.is((await first.final).status, 200);
    await leaveMessage(s, first);
    await until(() => /websms voicemail-mail: not taken, kept as .*websms-pending\/\d+-\w+\.eml/.test(s.pbx.output()), 10_000, 'the mail command saying it kept the e-mail');
    t.regex(s.pbx.output(), /no answer from the websms daemon/);
    await sleep(500);
    const kept = recordings(s);
    t.true(kept.some((f) => f.endsWith('.WAV')), `the recording is kept: ${kept.join(', ')}`);

    await s.startWebsms();
    const second = await alice.dial(s.bob.number, { hz: 880 });
    t.is((await second.final).status, 200);
    await leaveMessage(s, second);
    const mail = await s.voicemail.waitForMail(2);
    const [one, two] = s.voicemail.stored();
    t.true(Math.abs(toneHz(await recordedSamples(s, one!)) - 440) < 40, 'the kept message first');
    t.true(Math.abs(toneHz(await recordedSamples(s, mail)) - 880) < 60, 'then the new one');
    t.is(two!.id, mail.id);
    await until(() => recordings(s).length === 0, 5000, 'both recordings deleted once stored');
    t.deepEqual(fs.readdirSync(path.join(s.pbx.voicemailDir, 'websms-pending')), []);
  });

  test.serial('a call out without a TRUNK_ENDPOINT: "cannot complete as dialed" as early media, then 403 with Q.850 cause 21', async (t) => {
    const s = await startPbxStack(t, build);
    const alice = callPhone(s.alice.phones[0]);
    const call = await alice.dial('+4681234567');
    const final = await call.final;
    t.deepEqual([final.status, final.cause], [403, 21], `not 603 Decline (${final.status} ${final.reason})`);
    t.true(call.provisional.includes(183), 'the prompt came as early media (183), the call was never answered');
    t.true(rms(call.rtp.samples) > 500, 'the caller heard the prompt');
    t.regex(s.pbx.log(), /WARNING.*no TRUNK_ENDPOINT on PJSIP\/alice-\w+ so \+4681234567 cannot be called/);
  });

  test.serial('a call out through a trunk that qualify found unreachable: "all circuits are busy" as early media, then 503 with cause 34', async (t) => {
    const trunk = dgram.createSocket('udp4');
    await new Promise<void>((r) => trunk.bind(0, '127.0.0.1', () => r()));
    t.teardown(() => trunk.close());
    const port = trunk.address().port;
    const s = await startPbxStack(t, build, {
      alice: { trunk: 'itsp' },
      // as pjsip_endpoint.conf's example: qualify set after remote_hosts (every 2 s here, to be quick)
      pbx: { endpoints: `[itsp](w_trunk)\nremote_hosts = 127.0.0.1:${port}\naor/qualify_frequency = 2\n` },
    });
    // the ITSP double never answers: its OPTIONS time out (qualify_timeout 3 s)
    for (let tries = 0; !/itsp\/sip:127\.0\.0\.1:\d+ +\w+ +Unavail/.test(await s.pbx.cli("pjsip show contacts")); tries++) {
      if (tries > 60) throw new Error("the trunk was never taken for unreachable");
      await sleep(250);
    }
    const alice = callPhone(s.alice.phones[0]);
    const started = Date.now();
    const call = await alice.dial('+4681234567');
    const final = await call.final;
    t.deepEqual([final.status, final.cause], [503, 34], `${final.status} ${final.reason}`);
    t.true(call.provisional.includes(183));
    t.true(rms(call.rtp.samples) > 500, 'the caller heard the prompt');
    t.true(Date.now() - started < 15_000, 'at once, not after an INVITE timing out');
    t.regex(s.pbx.log(), /NOTICE.*trunk itsp did not take the call to \+4681234567 \(DIALSTATUS CHANUNAVAIL, cause 3\)/);
  });
}
