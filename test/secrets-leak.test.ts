// Secrets never leave websms: a distinct secret is planted in every place the
// configuration can hold one (every secret key of the interfaces, in the file
// and in the environment, across provider profiles; the API token; the AMI
// secret; a credential in a send_url query; a credential-like send_extra), then
// the real daemon (a child process, as systemd runs it) is driven through
// failures: 404s and 403s with tokens in the path, wrong Basic credentials,
// bad signatures, ITSP errors that echo every credential they were sent, a TLS
// failure, an AMI login refused. At log level debug and at info, every log
// line, every API answer, every CLI output, every FastAGI answer and every
// notice texted to a phone (through the AMI double) is searched for every
// secret, as it is and as it travels (percent-encoded, in Basic credentials).

import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { runAgi } from './doubles/agi-client.js';
import { startAmiDouble, type AmiDouble } from './doubles/ami-server.js';
import { makeTestCa, startItspDouble, type ItspDouble, type RecordedRequest } from './doubles/itsp-server.js';
import { runCli } from './helpers/cli.js';
import { MAIN, until } from './helpers/stack.js';
import { tempDir } from './helpers/tmp.js';

const PHONE = '+46812345678';
// The recipient's last digit says how the ITSP answers (see itspAnswer).
const TO = { refused: '+12025550101', unauthorised: '+12025550102', broken: '+12025550103' };

/**
 * A distinct secret per place, random per run, so a leak cannot be a
 * coincidence; with a '!' that no URL token has, so that only the redactor,
 * not the token-shaped path check, can hide it.
 */
function planted(place: string, tokenShaped = false): string {
  return `${place}-${crypto.randomBytes(9).toString('base64url')}${tokenShaped ? '' : '!x'}`;
}

interface Secrets {
  [name: string]: string;
}

function makeSecrets(): Secrets {
  return {
    amiSecret: planted('amisecret'),
    apiToken: planted('apitoken_0123456789'),
    genPassword: planted('genpassword'),
    genToken: `tok_${planted('gentoken', true)}`,
    genSendPassword: planted('gensendpw'),
    genQueryKey: planted('genquerykey'),
    genExtraToken: planted('genextratoken'),
    bearBearer: planted('bearbearer'),
    bearToken: `tok_${planted('beartoken', true)}`,
    twSecret: planted('twsecret'),
    twSigning: planted('twsigning'),
    vmsSecret: planted('vmssecret'),
    vmsToken: `tok_${planted('vmstoken', true)}`,
    tnxSecret: planted('KEYtnxsecret'),
  };
}

/** Each secret as it may show up: as it is, percent- and form-encoded, base64 in a Basic header with its user. */
function forms(secrets: Secrets): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [name, v] of Object.entries(secrets)) {
    out.push([name, v], [`${name} (percent-encoded)`, encodeURIComponent(v)], [`${name} (form-encoded)`, new URLSearchParams({ v }).toString().slice(2)]);
  }
  const basic = (u: string, p: string): string => Buffer.from(`${u}:${p}`).toString('base64');
  out.push(['gen Basic (send)', basic('senduser', secrets.genSendPassword!)], ['gen Basic (webhook)', basic('itspuser', secrets.genPassword!)]);
  out.push(['twilio Basic', basic(TW_ACCOUNT, secrets.twSecret!)]);
  return out;
}

const TW_ACCOUNT = 'AC0123456789abcdef0123456789abcdef';

/** The ITSP echoes everything it was sent (URL, Authorization, body) in its error. */
function itspAnswer(r: RecordedRequest): { status: number; body: object } {
  const echo = `you sent ${r.method} ${r.url} with Authorization: ${r.headers.authorization ?? '(none)'} and body ${r.rawBody.toString('utf8')}`;
  if (r.path.endsWith('/balance')) return { status: 401, body: { errors: [{ title: 'Authentication failed', detail: echo }] } };
  const body = r.body as Record<string, unknown> | undefined;
  const to = String(r.query['dst'] ?? body?.['To'] ?? body?.['to'] ?? '');
  if (to.endsWith('1')) {
    if (r.path.endsWith('rest.php')) return { status: 200, body: { status: 'invalid_dst', detail: echo } };
    return { status: 400, body: { message: `The 'To' number is not valid: ${echo}`, code: 21211 } };
  }
  if (to.endsWith('2')) return { status: 401, body: { message: `Authenticate: ${echo}`, code: 20003 } };
  return { status: 500, body: { message: `internal error: ${echo}` } };
}

function writeConfig(dir: string, level: string, amiPort: number, itsp: ItspDouble, tlsUrl: string, s: Secrets): { file: string; env: NodeJS.ProcessEnv } {
  const file = path.join(dir, 'websms.conf');
  const fast = 'rate = 0\nrate_per_number = 0\nbreaker_failures = 1000\nsend_timeout = 2s\nconnect_timeout = 1s\n';
  fs.writeFileSync(
    file,
    `[general]
listen = 127.0.0.1:0
database = ${path.join(dir, 'var', 'websms.db')}
country_code = 46
default_interface = gen
log_level = ${level}

[agi]
listen = 127.0.0.1:0

[api]
listen = 127.0.0.1:0

[outbound]
retry_min = 20ms
retry_max = 50ms
max_attempts = 2

[ami]
host = 127.0.0.1
port = ${amiPort}
username = websms
reconnect_min = 50ms
reconnect_max = 300ms
retry_min = 1s
retry_max = 2s

[gen]
username = itspuser
password = ${s.genPassword}
send_url = ${itsp.url}/gen/send?api_key=${s.genQueryKey}&format=json
send_auth = basic
send_username = senduser
send_extra = auth_token=${s.genExtraToken}
${fast}
[bear]
token = ${s.bearToken}
send_url = ${tlsUrl}/send
send_auth = bearer
send_bearer = ${s.bearBearer}
${fast}
[tw]
provider = twilio
account = ${TW_ACCOUNT}
signing_secret = ${s.twSigning}
api_url = ${itsp.url}
number = +12025550100
${fast}
[vms]
provider = voipms
account = ops@example.com
secret = ${s.vmsSecret}
api_url = ${itsp.url}
number = +12025550160
${fast}
[tnx]
provider = telnyx
public_key = MCowBQYDK2VwAyEAexampleexampleexampleexampleexa=
verify = no
api_url = ${itsp.url}
number = +12025550170
${fast}`,
  );
  // The rest from the environment, as the unit's EnvironmentFile gives them.
  const env = {
    WEBSMS_AMI_SECRET: s.amiSecret,
    WEBSMS_API_TOKEN: s.apiToken,
    WEBSMS_GEN_TOKEN: s.genToken,
    WEBSMS_GEN_SEND_PASSWORD: s.genSendPassword,
    WEBSMS_TW_SECRET: s.twSecret,
    WEBSMS_VMS_TOKEN: s.vmsToken,
    WEBSMS_TNX_SECRET: s.tnxSecret,
  };
  return { file, env };
}

interface Daemon {
  logs: string[];
  http: string;
  api: string;
  agiPort: number;
  stop(): Promise<number | null>;
}

/** `websms run` as a child process; resolves once the webhook, API and FastAGI listeners are up. */
function runDaemon(file: string, env: NodeJS.ProcessEnv): Promise<Daemon> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [MAIN, '--config', file, 'run'], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const logs: string[] = [];
    const ports: Record<string, number> = {};
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    let buf = '';
    let done = false;
    const timer = setTimeout(() => !done && reject(new Error(`daemon did not start:\n${logs.join('\n')}`)), 15_000);
    proc.stdout.resume();
    proc.stderr.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        logs.push(line);
        for (const [what, key] of [['"http listening"', 'http'], ['"api listening"', 'api'], ['"FastAGI server listening"', 'agi']] as const) {
          if (line.includes(what)) ports[key] = (JSON.parse(line) as { port: number }).port;
        }
        if (!done && ports.http && ports.api && ports.agi) {
          done = true;
          clearTimeout(timer);
          resolve({
            logs,
            http: `http://127.0.0.1:${ports.http}`,
            api: `http://127.0.0.1:${ports.api}`,
            agiPort: ports.agi,
            stop: () => {
              proc.kill('SIGTERM');
              return exited;
            },
          });
        }
      }
    });
    void exited.then((code) => {
      if (!done) {
        done = true;
        clearTimeout(timer);
        reject(new Error(`daemon exited with ${code}:\n${logs.join('\n')}`));
      }
    });
  });
}

function handOff(d: Daemon, iface: string, to: string, body: string) {
  return runAgi({
    port: d.agiPort,
    exten: to,
    variables: { 'MESSAGE(body)': body, 'MESSAGE(from)': `"Phone" <sip:${PHONE}@pbx.example>`, 'MESSAGE(to)': `pjsip:${to}@pbx.example`, WEBSMS_INDEX: iface },
  });
}

async function scenario(t: ExecutionContext, level: 'debug' | 'info'): Promise<void> {
  const dir = tempDir();
  const secrets = makeSecrets();
  const itsp = await startItspDouble({ default: itspAnswer });
  t.teardown(() => itsp.stop());
  // An https ITSP whose certificate websms does not trust: a TLS failure.
  const ca = makeTestCa(dir);
  const tlsItsp = await startItspDouble({ tls: { key: fs.readFileSync(ca.keyFile), cert: fs.readFileSync(ca.certFile) } });
  t.teardown(() => tlsItsp.stop());
  // First an Asterisk whose manager.conf has another secret: the login is refused.
  let ami: AmiDouble = await startAmiDouble({ secret: 'not-the-configured-one', authFailDelayMs: 10 });
  const amiPort = ami.port;
  t.teardown(() => ami.stop());
  const { file, env } = writeConfig(dir, level, amiPort, itsp, tlsItsp.url, secrets);
  const d = await runDaemon(file, env);
  let stopped = false;
  t.teardown(async () => {
    if (!stopped) await d.stop();
  });
  const seen: Array<[string, string]> = [];
  const keep = (where: string, text: string): string => {
    seen.push([where, text]);
    return text;
  };

  await until(() => d.logs.some((l) => l.includes('ami login refused')), 10_000, 'the AMI login to be refused');
  await ami.stop();
  ami = await startAmiDouble({ secret: secrets.amiSecret!, port: amiPort, authFailDelayMs: 10 });
  ami.addEndpoint(PHONE, 'phone', ['sip:phone@127.0.0.1:5062']);
  await until(() => d.logs.some((l) => l.includes('"ami connected"')), 10_000, 'AMI to connect with the right secret');

  // Webhooks: 404s with tokens in the path, wrong tokens, wrong Basic credentials, bad signatures.
  const req = async (where: string, url: string, init: RequestInit = {}): Promise<number> => {
    const r = await fetch(url, init);
    keep(`${where} ${r.status}`, await r.text());
    return r.status;
  };
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const text = new URLSearchParams({ To: PHONE, From: '+46701234567', Body: 'hello' }).toString();
  for (const token of [secrets.genToken!, secrets.bearToken!, secrets.vmsToken!, secrets.apiToken!]) {
    for (const p of [`/sms/in/gen/${token}/more`, `/sms/in/old-name/${token}`, `/${token}`, `/sms/status/gen/${token}/x`, `/nope?token=${token}`, `/media/${token}`]) {
      const status = await req('webhook', d.http + p, { method: 'POST', headers: form, body: text });
      t.true(status === 404 || status === 405, `${p}: ${status}`);
    }
  }
  t.is(await req('webhook', `${d.http}/sms/in/bear/${secrets.genToken}`, { method: 'POST', headers: form, body: text }), 403);
  const basic = (u: string, p: string) => ({ ...form, authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
  t.is(await req("webhook", `${d.http}/sms/in/gen/${secrets.genToken}`, { method: 'POST', headers: basic('itspuser', `${secrets.genPassword}x`), body: text }), 401);
  t.is(await req("webhook", `${d.http}/sms/in/gen/${secrets.genToken}`, { method: 'POST', headers: basic(secrets.genPassword!, secrets.amiSecret!), body: text }), 401);
  t.is(await req('webhook', `${d.http}/sms/in/tw`, { method: 'POST', headers: { ...form, 'x-twilio-signature': Buffer.from(secrets.twSecret!).toString('base64') }, body: `To=${encodeURIComponent(PHONE)}&From=%2B12025550199&Body=hi&MessageSid=SM1` }), 403);
  t.is(await req('webhook', `${d.http}/sms/in/vms/${secrets.genToken}?to=1&from=2&message=x`), 403);

  // Texts from the phone that fail at the ITSP in every way it can: each answer echoes the credentials.
  const agi: string[] = [];
  const handed: Array<[string, string]> = [
    ['gen', TO.refused], ['gen', TO.unauthorised], ['gen', TO.broken], ['bear', TO.refused],
    ['tw', TO.refused], ['tw', TO.unauthorised], ['vms', TO.refused], ['vms', TO.broken], ['tnx', TO.unauthorised],
  ];
  for (const [iface, to] of handed) {
    const run = await handOff(d, iface, to, `via ${iface} to ${to}`);
    t.is(run.set.get('WEBSMS_STATUS'), 'QUEUED', `${iface} ${to}: ${run.set.get('WEBSMS_REASON')}`);
    agi.push(...run.responses, ...[...run.set.values()]);
  }
  keep('FastAGI', agi.join('\n'));
  // Every one fails, and the phone is told.
  const notices = await until(() => {
    const n = ami.deliveries.filter((x) => x.body.toString().startsWith('Not sent'));
    return n.length >= handed.length && n;
  }, 20_000, 'a notice for every failed text');
  for (const n of notices) keep('notice to the phone', n.body.toString('utf8'));
  t.true(notices.some((n) => n.body.toString().endsWith('the provider account needs attention (credit or credentials); tell your administrator')));
  t.true(notices.some((n) => n.body.toString().endsWith('the provider could not be reached; send it again later')), 'the TLS failure, in words for the phone');
  t.false(notices.some((n) => /TLS|certificate|127\.0\.0\.1|you sent/.test(n.body.toString())), 'no internals on the phone');

  // The API: every text and its history, the interfaces' last errors, refusals.
  const auth = { authorization: `Bearer ${secrets.apiToken}` };
  for (let id = 1; id <= handed.length; id++) await req('API text', `${d.api}/api/texts/out-${id}`, { headers: auth });
  await req('API interfaces', `${d.api}/api/interfaces`, { headers: auth });
  await req('API texts', `${d.api}/api/texts?direction=out`, { headers: auth });
  t.is(await req('API 401', `${d.api}/api/interfaces`, { headers: { authorization: `Bearer ${secrets.genPassword}` } }), 401);
  t.is(await req('API 404', `${d.api}/api/${secrets.apiToken}/x`, { headers: auth }), 404);
  const status = JSON.parse(seen.find(([w]) => w.startsWith('API interfaces'))![1]) as { interfaces?: Array<{ name: string; lastError: { reason: string } | null }> };
  t.regex(JSON.stringify(status), /you sent/, 'the administrator still sees what the ITSP said, secrets taken out');

  // The CLI, through the API and on its own.
  const cliEnv = { ...env, WEBSMS_API_URL: d.api };
  for (const args of [['status', 'out-1'], ['status', 'out-4', '--json'], ['history', '--json'], ['doctor', '--json', '--timeout', '3'], ['check-config']]) {
    const r = await runCli(['--config', file, ...args], { env: cliEnv, cwd: dir });
    keep(`websms ${args.join(' ')}`, r.stdout + r.stderr);
  }
  t.regex(seen.find(([w]) => w.startsWith('websms doctor'))![1], /telnyx refuses the send credentials/);

  stopped = true;
  t.is(await d.stop(), 0);
  for (const line of d.logs) keep(`log (${level})`, line);
  t.true(d.logs.some((l) => l.includes('"level":"debug"')) === (level === 'debug'));
  if (level === 'debug') t.true(d.logs.some((l) => l.includes('ITSP answer to a text it did not take') && l.includes('you sent')), 'the raw answer is at debug');

  // Searched last, everything at once.
  const leaks: string[] = [];
  for (const [where, body] of seen) {
    for (const [name, form] of forms(secrets)) if (body.includes(form)) leaks.push(`${name} in ${where}: ${body.slice(Math.max(0, body.indexOf(form) - 80), body.indexOf(form) + form.length + 20)}`);
  }
  t.deepEqual(leaks, []);
  t.true(seen.length > 100, `${seen.length} outputs searched`);
}

test('no secret in any log line (debug), API answer, CLI output, FastAGI answer or notice', (t) => scenario(t, 'debug'));
test('no secret in any log line (info), API answer, CLI output, FastAGI answer or notice', (t) => scenario(t, 'info'));

test('a URL with credentials in it is refused by the configuration check without repeating them', async (t) => {
  const dir = tempDir();
  const file = path.join(dir, 'websms.conf');
  const pw = planted('userinfo');
  fs.writeFileSync(file, `[general]\ndatabase = ${dir}/w.db\n\n[default]\nsend_url = https://user:${pw}@itsp.example/send\napi_url = https://user:${pw}@api.example/\npublic_url = https://u:${pw}@sms.example/sms/in/default\n[media]\npublic_url = https://u:${pw}@sms.example/media\n`);
  for (const args of [['check-config'], ['check-config', '--json'], ['run']]) {
    const r = await runCli(['--config', file, ...args], { cwd: dir });
    t.is(r.code, 78, args.join(' '));
    t.regex(r.stdout + r.stderr, /must not contain credentials/);
    t.false((r.stdout + r.stderr).includes(pw), args.join(' '));
  }
});
