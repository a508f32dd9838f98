// A real Asterisk for one test: its own run folder, the project's dialplan/
// installed into it by the same code as `websms dialplan install`, then
// filled in the way docs/dialplan.md asks an administrator to (a transport,
// the AMI secret, the FastAGI address, the users), on loopback and free
// ports. Started in the foreground, ready once `core waitfullybooted`
// answers, stopped by its PID.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { installDialplan } from '../../src/dialplan/install.js';
import type { AsteriskBuild } from './asterisk-build.js';
import { tempDir } from './tmp.js';

const MODULES_CONF = fileURLToPath(new URL('../../../test/asterisk/modules.conf', import.meta.url));

/** A user in pjsip_endpoint.conf: endpoint (also the SIP user name), number, password. */
export interface PbxUser {
  endpoint: string;
  number: string;
  password: string;
  /** Its own `endpoint/set_var = WEBSMS_INDEX=<index>`, besides the template's. */
  index?: string;
  /** A wizard section without the suite's templates, as one written before websms: no WEBSMS_INDEX at all. */
  legacy?: boolean;
  /** endpoint/mailboxes: the MiniVM mailbox, user@domain. */
  mailbox?: string;
  /** endpoint/set_var = TRUNK_ENDPOINT=<trunk>: the trunk the user's calls go out through. */
  trunk?: string;
}

export interface PbxOptions {
  build: AsteriskBuild;
  users: PbxUser[];
  amiSecret: string;
  /** Where websms's FastAGI server listens: extensions_local.conf WEBSMS_AGI. */
  agiPort: number;
  /** AMI port (manager.conf); default: a free one. */
  amiPort?: number;
  /** More wizard sections for pjsip_endpoint.conf (a trunk), as written. */
  endpoints?: string;
  /** extensions_local.conf DIAL_TIMEOUT: seconds a user's phones ring. */
  dialTimeout?: number;
  /** Dialplan steps in var/log/full ("Executing [...]", verbose level 3), so a test can see where a call is. */
  traceDialplan?: boolean;
  /** minivm.conf mailcmd: the command MiniVM pipes each voicemail e-mail to; a function gets the run folder. */
  mailcmd?: string | ((dir: string) => string);
}

export interface Pbx {
  dir: string;
  /** The configuration folder (astetcdir): what `websms dialplan install --dest` wrote. */
  etc: string;
  sipPort: number;
  amiPort: number;
  pid: number;
  /** Runs one CLI command through `asterisk -rx` and returns its output. */
  cli(command: string): Promise<string>;
  /** var/log/full so far: notices, warnings and errors with millisecond times. */
  log(): string;
  /** What Asterisk and the commands it ran (MiniVM's mailcmd) wrote to standard output and error. */
  output(): string;
  /** MiniVM's spool: <spool>/voicemail (greetings and recordings). */
  voicemailDir: string;
  stop(): Promise<void>;
}

export class PbxStartError extends Error {
  constructor(message: string, readonly log: string) {
    super(`${message}\n${log.split('\n').slice(-30).join('\n')}`);
    this.name = 'PbxStartError';
  }
}

/** A port nothing listens on now (the kernel's pick, released at once). */
export function freePort(kind: 'tcp' | 'udp'): Promise<number> {
  if (kind === 'udp') {
    return new Promise((resolve, reject) => {
      const s = dgram.createSocket('udp4');
      s.once('error', reject);
      s.bind(0, '127.0.0.1', () => {
        const { port } = s.address();
        s.close(() => resolve(port));
      });
    });
  }
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Replaces text an administrator would edit; fails loudly when the shipped file no longer has it. */
function edit(file: string, from: RegExp, to: string): void {
  const text = fs.readFileSync(file, 'utf8');
  if (!from.test(text)) throw new Error(`${path.basename(file)} no longer has ${from}: update test/helpers/asterisk.ts`);
  fs.writeFileSync(file, text.replace(from, to));
}

function endpointsConf(users: PbxUser[]): string {
  const lines = ['; written by test/helpers/asterisk.ts, as docs/dialplan.md shows', ''];
  for (const u of users) {
    if (u.legacy) {
      lines.push(
        `[${u.endpoint}]`,
        'type = wizard',
        'accepts_auth = yes',
        'accepts_registrations = yes',
        'aor/max_contacts = 2',
        'has_hint = yes',
        'hint_context = dp_lookup',
        'endpoint/context = dp_entry_call_inout',
        'endpoint/message_context = dp_entry_text_inout',
      );
    } else {
      lines.push(`[${u.endpoint}](w_term_io)`);
    }
    if (u.index !== undefined) lines.push(`endpoint/set_var = WEBSMS_INDEX=${u.index}`);
    if (u.trunk !== undefined) lines.push(`endpoint/set_var = TRUNK_ENDPOINT=${u.trunk}`);
    if (u.mailbox !== undefined) lines.push(`endpoint/mailboxes = ${u.mailbox}`);
    lines.push(
      `hint_exten = ${u.number}`,
      `endpoint/callerid = ${u.endpoint} <${u.number}>`,
      `inbound_auth/username = ${u.endpoint}`,
      `inbound_auth/password = ${u.password}`,
      '',
    );
  }
  return lines.join('\n');
}

/** Writes the run folder: the installed dialplan, filled in, plus what only a test run needs. */
function writeRunFolder(dir: string, o: PbxOptions, sipPort: number, amiPort: number): string {
  const etc = path.join(dir, 'etc');
  for (const d of ['etc', 'var/lib', 'var/spool', 'var/run', 'var/log', 'agi-bin']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  installDialplan({ dest: etc });

  const at = (f: string): string => path.join(etc, f);
  // One UDP transport on loopback: tcp/tls/ws and the NAT settings are for real networks.
  fs.writeFileSync(at('pjsip_transport.conf'), `[udp]\ntype = transport\nprotocol = udp\nbind = 127.0.0.1:${sipPort}\n`);
  fs.writeFileSync(at('pjsip_endpoint.conf'), endpointsConf(o.users) + (o.endpoints ?? ''));
  if (o.dialTimeout !== undefined) edit(at('extensions_local.conf'), /^DIAL_TIMEOUT = .*$/m, `DIAL_TIMEOUT = ${o.dialTimeout}`);
  if (o.mailcmd !== undefined) edit(at('minivm.conf'), /^mailcmd = .*$/m, `mailcmd = ${typeof o.mailcmd === 'string' ? o.mailcmd : o.mailcmd(dir)}`);
  edit(at('manager.conf'), /^port = \d+$/m, `port = ${amiPort}`);
  edit(at('manager.conf'), /^;secret =.*$/m, `secret = ${o.amiSecret}`);
  edit(at('extensions_local.conf'), /^WEBSMS_AGI = .*$/m, `WEBSMS_AGI = 127.0.0.1:${o.agiPort}`);
  // No HTTP server: browsers are not part of the tests, and it would need free ports and a certificate.
  edit(at('http.conf'), /^enabled = yes$/m, 'enabled = no');
  edit(at('http.conf'), /^tlsenable = yes$/m, 'tlsenable = no');

  const b = o.build;
  fs.writeFileSync(
    at('asterisk.conf'),
    `[directories]
astetcdir => ${etc}
astmoddir => ${b.modules}
astvarlibdir => ${dir}/var/lib
astdbdir => ${dir}/var/lib
astkeydir => ${dir}/var/lib
astdatadir => ${b.data}
astagidir => ${dir}/agi-bin
astspooldir => ${dir}/var/spool
astrundir => ${dir}/var/run
astlogdir => ${dir}/var/log
astsbindir => ${b.sbin}

[options]
documentation_language = en_US
`,
  );
  fs.copyFileSync(MODULES_CONF, at('modules.conf'));
  fs.writeFileSync(at('logger.conf'), `[general]\ndateformat = %F %T.%3q\n\n[logfiles]\nfull => notice,warning,error,${o.traceDialplan ? 'verbose(3)' : 'verbose'}\n`);
  // Files Asterisk warns about at start when they are missing.
  for (const f of ['acl.conf', 'ccss.conf', 'cdr.conf', 'cel.conf', 'features.conf', 'udptl.conf', 'pjproject.conf', 'pjsip_notify.conf']) {
    fs.writeFileSync(at(f), '');
  }
  // The tones of a call (ringing, busy) as a distribution's indications.conf has them; without a
  // country Asterisk logs "Missing default country" at start.
  fs.writeFileSync(
    at('indications.conf'),
    '[general]\ncountry = us\n\n[us]\ndescription = United States\nringcadence = 2000,4000\ndial = 350+440\nbusy = 480+620/500,0/500\nring = 440+480/2000,0/4000\ncongestion = 480+620/250,0/250\n',
  );
  return etc;
}

// An Asterisk outlives the test process that started it unless killed: if the
// process ends without its teardown (a timeout, an uncaught error), end them here.
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

export async function startPbx(o: PbxOptions): Promise<Pbx> {
  const dir = tempDir('websms-asterisk-');
  const [sipPort, amiPort] = [await freePort('udp'), o.amiPort ?? (await freePort('tcp'))];
  const etc = writeRunFolder(dir, o, sipPort, amiPort);
  const conf = path.join(etc, 'asterisk.conf');
  const [cmd, ...prefix] = o.build.command;
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...o.build.env };
  const logFile = path.join(dir, 'var', 'log', 'full');
  const out = fs.openSync(path.join(dir, 'asterisk.out'), 'a');
  const proc: ChildProcess = spawn(cmd!, [...prefix, '-C', conf, '-f', '-n'], { env, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  running.add(proc);
  proc.once('exit', () => running.delete(proc));
  let exited: number | string | null | undefined;
  const gone = new Promise<void>((resolve) => proc.once('exit', (code, signal) => ((exited = code ?? signal), resolve())));

  const log = (): string => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : fs.readFileSync(path.join(dir, 'asterisk.out'), 'utf8'));
  const cli = (command: string): Promise<string> =>
    new Promise((resolve, reject) => {
      execFile(cmd!, [...prefix, '-C', conf, '-rx', command], { env, timeout: 20_000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`asterisk -rx '${command}': ${(stdout + stderr).trim() || err.message}`));
        else resolve(stdout);
      });
    });
  const stop = async (): Promise<void> => {
    if (exited !== undefined) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(timer);
  };

  // Ready: the control socket answers and every module has loaded.
  const end = Date.now() + 20_000;
  for (;;) {
    if (exited !== undefined) throw new PbxStartError(`Asterisk exited (${exited}) while starting in ${dir}`, log());
    try {
      if (/fully booted/i.test(await cli('core waitfullybooted'))) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > end) {
      await stop();
      throw new PbxStartError(`Asterisk did not finish booting in 20 s in ${dir}`, log());
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const output = (): string => fs.readFileSync(path.join(dir, 'asterisk.out'), 'utf8');
  return { dir, etc, sipPort, amiPort, pid: proc.pid!, cli, log, output, voicemailDir: path.join(dir, 'var', 'spool', 'voicemail'), stop };
}
