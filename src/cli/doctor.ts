// `websms doctor`: can websms log in to AMI, and is the dialplan it relies on
// loaded in the running Asterisk? Never prints the AMI secret.

import { createAmiClient, type AmiClient } from '../asterisk/ami.js';
import { checkContexts, permissionAdvice, requiredContexts, type DialplanReport } from '../asterisk/doctor.js';
import type { Config } from '../config/types.js';
import { createLogger } from '../log.js';
import { parseArgs, UsageError } from './args.js';
import { readConfig } from './config.js';
import { EX_FINDINGS, EX_UNAVAILABLE, EX_USAGE } from './exit.js';
import type { CommandContext } from './types.js';

export const DOCTOR_USAGE = `usage: websms [--config PATH] doctor [--timeout SECONDS]

Logs in to Asterisk's AMI as websms does ([ami] in the configuration) and
checks that every dialplan context websms relies on is loaded: the answer and
text contexts of [ami], dp_entry_text_inout, dp_lookup, sub_decode_body,
sub_text_term and sub_text_trunk (AMI ShowDialPlan; the AMI user needs write
permission "reporting" for it). Gives up after --timeout seconds (default 10).
Exit: 0 all present; 1 something is missing (or cannot be checked);
      69 AMI cannot be reached or refused the login; 78 configuration errors.
`;

const DEFAULT_TIMEOUT_S = 10;

export async function doctorCommand({ args, argv }: CommandContext): Promise<number> {
  let timeoutMs: number;
  try {
    const o = parseArgs(args, { values: ['--timeout'], flags: ['--help'] });
    if (o.flags.has('--help')) {
      process.stdout.write(DOCTOR_USAGE);
      return 0;
    }
    if (o.positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(o.positionals[0])}`);
    const t = o.values['--timeout'];
    const seconds = t === undefined ? DEFAULT_TIMEOUT_S : Number(t);
    if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 600) throw new UsageError('--timeout needs a number of seconds (0 < n <= 600)');
    timeoutMs = Math.round(seconds * 1000);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`websms doctor: ${err.message}\n\n${DOCTOR_USAGE}`);
    return EX_USAGE;
  }
  const r = readConfig(argv, 'nothing was checked');
  if (!r.ok) return r.code;
  try {
    return await doctor(r.config, timeoutMs);
  } finally {
    // Our AMI layer ends a session with a half-close: an Asterisk that never
    // answers keeps the socket, and this process, alive. A diagnosis is over.
    setTimeout(() => process.exit(), 1000).unref();
  }
}

const out = (line: string): void => void process.stdout.write(`${line}\n`);

async function doctor(config: Config, timeoutMs: number): Promise<number> {
  const a = config.ami;
  const deadline = Date.now() + timeoutMs;
  out(`AMI ${a.host}:${a.port}, user ${a.username} (configuration: ${config.file ?? 'built-in defaults'})`);
  if (a.secret === '') out('  warning: no AMI secret configured ([ami] secret or WEBSMS_AMI_SECRET); Asterisk will refuse the login');

  const session = await connect(config, timeoutMs);
  if (!session.ok) {
    out(`  FAIL  AMI: ${session.reason}`);
    out(`        is Asterisk running, with AMI enabled on ${a.host}:${a.port} (manager.conf [general] enabled = yes, port, bindaddr)?`);
    return EX_UNAVAILABLE;
  }
  const ami = session.ami;
  out('  ok    AMI login');
  try {
    const left = Math.max(1, deadline - Date.now());
    let report: DialplanReport;
    try {
      report = await withDeadline(checkContexts(ami, requiredContexts(config), left), left);
    } catch (err) {
      out(`  FAIL  AMI: ${(err as Error).message}`);
      return EX_UNAVAILABLE;
    }
    if (report.permissionDenied) {
      out(`  FAIL  dialplan cannot be checked: ${permissionAdvice(a.username)}`);
      return EX_FINDINGS;
    }
    for (const c of report.contexts) {
      const name = c.context.name;
      if (c.state === 'present') out(`  ok    context ${name}${c.items === 0 ? ' (loaded, but empty)' : ''}`);
      else if (c.state === 'missing') out(`  MISSING context ${name}: not loaded in Asterisk; it is the ${c.context.role}`);
      else out(`  FAIL  context ${name}: ${c.reason}`);
    }
    const bad = report.contexts.filter((c) => c.state !== 'present');
    if (bad.length === 0) {
      out(`All ${report.contexts.length} dialplan contexts websms relies on are loaded.`);
      return 0;
    }
    if (report.missing.length > 0) {
      out(`${report.missing.length} of ${report.contexts.length} contexts missing: ${report.missing.map((c) => c.name).join(', ')}`);
      out("Install the dialplan (websms dialplan install), check the context names in websms.conf [ami], then asterisk -rx 'dialplan reload'.");
    }
    return EX_FINDINGS;
  } finally {
    await ami.stop();
  }
}

function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no complete answer from Asterisk within ${Math.round(ms / 1000)} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

type Session = { ok: true; ami: AmiClient } | { ok: false; reason: string };

/**
 * One attempt to log in with our AMI layer. The layer retries for ever, which
 * the daemon wants and a diagnosis does not: its log lines tell us the first
 * attempt failed and why (never with the secret), and we give up there.
 */
function connect(config: Config, timeoutMs: number): Promise<Session> {
  const a = config.ami;
  return new Promise((resolve) => {
    let settled = false;
    let socketError: string | undefined;
    const finish = (s: Session): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (s.ok) resolve(s);
      // After the layer's current step (it logs before it arms its retry timer).
      else setImmediate(() => void ami.stop().then(() => resolve(s)));
    };
    const sink = (line: string): void => {
      let rec: { msg?: string; reason?: string; err?: { message?: string } };
      try {
        rec = JSON.parse(line) as typeof rec;
      } catch {
        return;
      }
      if (rec.msg === 'ami socket error') socketError ??= rec.err?.message;
      else if (rec.msg === 'ami login refused') {
        finish({ ok: false, reason: `Asterisk refused the login of user "${a.username}" (${rec.reason ?? 'no reason given'}): check the secret in websms.conf and manager.conf, and the user's permit/deny` });
      } else if (rec.msg === 'ami event subscription failed') {
        finish({ ok: false, reason: `logged in, but the Events action failed: ${rec.err?.message ?? 'no reason given'}` });
      } else if (rec.msg === 'ami reconnect scheduled') {
        finish({ ok: false, reason: `cannot connect to ${a.host}:${a.port}: ${socketError ?? rec.reason ?? 'connection failed'}` });
      }
    };
    const ami = createAmiClient({
      host: a.host,
      port: a.port,
      username: a.username,
      secret: a.secret,
      // List answers reach the session whatever its event mask: no events needed.
      events: 'off',
      actionTimeoutMs: Math.min(a.actionTimeoutMs, timeoutMs),
      pingIntervalMs: 3_600_000,
      reconnectMinMs: 60_000,
      reconnectMaxMs: 60_000,
      log: createLogger('debug', {}, sink),
    });
    const timer = setTimeout(
      () => finish({ ok: false, reason: `no AMI session with ${a.host}:${a.port} within ${Math.round(timeoutMs / 1000)} s${socketError ? ` (${socketError})` : ''}` }),
      timeoutMs,
    );
    ami.on('connected', () => finish({ ok: true, ami }));
    ami.start();
  });
}
