// `websms doctor`: is everything websms needs there? Configuration, database,
// the daemon, FastAGI, an AMI login, the dialplan in the running Asterisk, the
// ITSP credentials. Changes nothing, sends nothing, never prints a secret.

import { createAmiClient, type AmiClient } from '../asterisk/ami.js';
import { checkContexts, permissionAdvice, requiredContexts, type DialplanReport } from '../asterisk/doctor.js';
import type { Config } from '../config/types.js';
import { createLogger } from '../log.js';
import { out, parseCommand, printJson, usageError } from './command.js';
import { readConfig } from './config.js';
import { configFindings, daemonFindings, databaseFindings, emailFindings, fastAgiFinding, interfaceFindings, type Finding, type Status } from './doctor-checks.js';
import { EX_FINDINGS, EX_UNAVAILABLE, exitCodes } from './exit.js';
import type { CommandContext } from './types.js';

export const DOCTOR_USAGE = `usage: websms [--config PATH] doctor [--timeout SECONDS] [--json]

Checks, one line each with ok, warn or fail and what to do:
  configuration  it loads, and the warnings the daemon would log at start
  database       [general] database opens, is writable, its schema version
  daemon         the running daemon answers on [api] listen (/healthz, /readyz)
  FastAGI        something accepts connections on [agi] listen
  AMI            websms can log in to Asterisk's manager interface ([ami])
  dialplan       every context websms relies on is loaded in the running
                 Asterisk: the answer and text contexts of [ami],
                 dp_entry_text_inout, dp_lookup, sub_decode_body, sub_text_term
                 and sub_text_trunk (AMI ShowDialPlan: the AMI user needs write
                 permission "reporting")
  interfaces     each sending interface's credentials, where its provider can
                 check them without sending a text (websms providers says which)
  e-mail         with [email] users: a login to the SMTP server (nothing is
                 sent) and to the reply mailbox, the reply listener, and the
                 running daemon's outbox (e-mails waiting, the last error)
Changes nothing and sends no text. Gives up on each part after --timeout
seconds (default 10).
  --json   {"checks": [{"check", "status": "ok"|"warn"|"fail", "detail"}], "failures": N, "warnings": N}

${exitCodes([
  [0, 'no failures (warnings allowed)'],
  [1, 'a check failed: a missing dialplan context, an unreachable FastAGI port, a database that cannot be opened or written, ...'],
  [64, 'usage error'],
  [69, 'AMI cannot be reached, or refused the login'],
  [78, 'configuration errors (listed on stderr); nothing else was checked'],
])}`;

const DEFAULT_TIMEOUT_S = 10;

export async function doctorCommand({ args, argv }: CommandContext): Promise<number> {
  const spec = { name: 'doctor', usage: DOCTOR_USAGE, values: ['--timeout'], flags: ['--json'] };
  const p = parseCommand(args, spec);
  if (!p.ok) return p.code;
  const t = p.opts.values['--timeout'];
  const seconds = t === undefined ? DEFAULT_TIMEOUT_S : Number(t);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 600) return usageError(spec, '--timeout needs a number of seconds (0 < n <= 600)').code;
  const timeoutMs = Math.round(seconds * 1000);
  const r = readConfig(argv, 'nothing was checked');
  if (!r.ok) return r.code;
  try {
    return await doctor(r.config, timeoutMs, p.json);
  } finally {
    // Our AMI layer ends a session with a half-close: an Asterisk that never
    // answers keeps the socket, and this process, alive. A diagnosis is over.
    setTimeout(() => process.exit(), 1000).unref();
  }
}

const MARK: Record<Status, string> = { ok: 'ok    ', warn: 'warn  ', fail: 'fail  ' };

async function doctor(config: Config, timeoutMs: number, json: boolean): Promise<number> {
  const findings: Finding[] = [];
  // Printed as they come: a slow AMI should not hide what is already known.
  const add = (...fs: Finding[]): void => {
    findings.push(...fs);
    if (!json) for (const f of fs) out(`  ${MARK[f.status]}${f.check}: ${f.detail}`);
  };
  add(...configFindings(config));
  add(...databaseFindings(config));
  add(...(await daemonFindings(config, timeoutMs)));
  add(await fastAgiFinding(config, timeoutMs));
  const amiReached = await amiFindings(config, timeoutMs, add);
  add(...(await interfaceFindings(config, timeoutMs)));
  add(...(await emailFindings(config, timeoutMs)));

  const failures = findings.filter((f) => f.status === 'fail').length;
  const warnings = findings.filter((f) => f.status === 'warn').length;
  if (json) printJson({ checks: findings, failures, warnings });
  else {
    out();
    if (failures === 0) out(`No failures${warnings ? `, ${warnings} warning(s): read them above` : ': websms is ready'}.`);
    else out(`${failures} check(s) failed, ${warnings} warning(s): fix the "fail" lines above, then run websms doctor again.`);
  }
  if (!amiReached) return EX_UNAVAILABLE;
  return failures > 0 ? EX_FINDINGS : 0;
}

/** AMI login and the dialplan contexts; false when AMI could not be reached or refused the login. */
async function amiFindings(config: Config, timeoutMs: number, add: (...f: Finding[]) => void): Promise<boolean> {
  const a = config.ami;
  const deadline = Date.now() + timeoutMs;
  const session = await connect(config, timeoutMs);
  if (!session.ok) {
    add({
      check: 'AMI',
      status: 'fail',
      detail: `${session.reason}; is Asterisk running, with AMI enabled on ${a.host}:${a.port} (manager.conf [general] enabled = yes, port, bindaddr)?`,
    });
    add({ check: 'dialplan', status: 'warn', detail: 'not checked: it needs an AMI session' });
    return false;
  }
  const ami = session.ami;
  add({ check: 'AMI', status: 'ok', detail: `login as ${a.username} at ${a.host}:${a.port}` });
  try {
    const left = Math.max(1, deadline - Date.now());
    let report: DialplanReport;
    try {
      report = await withDeadline(checkContexts(ami, requiredContexts(config), left), left);
    } catch (err) {
      add({ check: 'dialplan', status: 'fail', detail: `AMI: ${(err as Error).message}` });
      return true;
    }
    if (report.permissionDenied) {
      add({ check: 'dialplan', status: 'fail', detail: `cannot be checked: ${permissionAdvice(a.username)}` });
      return true;
    }
    for (const c of report.contexts) {
      const name = c.context.name;
      if (c.state === 'present') add({ check: 'dialplan', status: 'ok', detail: `context ${name}${c.items === 0 ? ' (loaded, but empty)' : ''}` });
      else if (c.state === 'missing') add({
          check: 'dialplan',
          status: 'fail',
          detail:
            `context ${name} is not loaded in Asterisk; it is the ${c.context.role}. ` +
            "Install the dialplan (websms dialplan install), check the context names in websms.conf [ami], then asterisk -rx 'dialplan reload'",
        });
      else add({ check: 'dialplan', status: 'fail', detail: `context ${name}: ${c.reason}` });
    }
    if (report.contexts.every((c) => c.state === 'present')) {
      add({ check: 'dialplan', status: 'ok', detail: `all ${report.contexts.length} dialplan contexts websms relies on are loaded` });
    }
    return true;
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
