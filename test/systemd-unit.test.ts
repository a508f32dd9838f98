// systemd/websms.service: the settings websms relies on, `systemd-analyze
// verify`, and the `systemd-analyze security` exposure recorded in
// docs/systemd.md. systemd does not run here; systemd-analyze works on unit
// files offline, and where it is missing these checks say so and pass.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EX_CANTCREAT, EX_CONFIG, EX_UNAVAILABLE } from '../src/cli/exit.js';
import { MAIN } from './helpers/stack.js';
import { tempDir } from './helpers/tmp.js';

const UNIT = fileURLToPath(new URL('../../systemd/websms.service', import.meta.url));
const DOC = fileURLToPath(new URL('../../docs/systemd.md', import.meta.url));
const unit = fs.readFileSync(UNIT, 'utf8');
const settings = (k: string): string[] => [...unit.matchAll(new RegExp(`^${k}=(.*)$`, 'gm'))].map((m) => m[1]!);
const setting = (k: string): string | undefined => settings(k).at(-1);

const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
const hasAnalyze = analyze.status === 0;

test('the unit waits for READY=1 from the main process, restarts at once, not on exit codes a restart cannot fix', (t) => {
  t.is(setting('Type'), 'notify');
  t.is(setting('NotifyAccess'), 'main');
  t.is(setting('ExecStart'), 'websms run');
  t.is(setting('ExecReload'), 'kill -HUP $MAINPID');
  t.is(setting('WatchdogSec'), '10');
  t.is(setting('WatchdogSignal'), 'SIGKILL');
  t.is(setting('Restart'), 'always');
  t.is(setting('RestartSec'), '1');
  t.deepEqual(setting('RestartPreventExitStatus')?.split(' ').map(Number).sort(), [EX_UNAVAILABLE, EX_CANTCREAT, EX_CONFIG].sort());
  t.is(setting('UMask'), '0077');
  t.is(setting('DynamicUser'), 'yes');
  t.is(setting('StateDirectory'), 'websms');
  t.is(setting('StateDirectoryMode'), '0700');
  t.is(setting('WorkingDirectory'), '/var/lib/websms');
  t.is(setting('RestrictAddressFamilies'), 'AF_INET AF_INET6 AF_UNIX');
  t.true(settings('Environment').includes('WEBSMS_CONFIG=/etc/websms/websms.conf'));
});

test('systemd-analyze verify finds nothing to say about the unit', (t) => {
  if (!hasAnalyze) {
    t.log('systemd-analyze is not on this machine: `systemd-analyze verify` was not run');
    t.pass();
    return;
  }
  // verify wants ExecStart='s program to exist: a stand-in websms, the only line changed.
  const dir = tempDir();
  const bin = path.join(dir, 'websms');
  fs.writeFileSync(bin, `#!/bin/sh\nexec "${process.execPath}" "${MAIN}" "$@"\n`, { mode: 0o755 });
  const copy = path.join(dir, 'websms.service');
  fs.writeFileSync(copy, unit.replace(/^ExecStart=websms /m, `ExecStart=${bin} `));
  const r = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  t.is(r.stderr.trim(), '');
  t.is(r.stdout.trim(), '');
});

test('systemd-analyze security rates the unit 2.0 or lower, the figure docs/systemd.md and the unit header give', (t) => {
  if (!hasAnalyze) {
    t.log('systemd-analyze is not on this machine: the exposure score was not checked');
    t.pass();
    return;
  }
  const r = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', UNIT], { encoding: 'utf8' });
  const m = /Overall exposure level for websms\.service: (\d+\.\d) (\w+)/.exec(r.stdout);
  t.truthy(m, r.stdout + r.stderr);
  const score = Number(m![1]);
  t.log(`systemd-analyze security: ${m![1]} ${m![2]} (${analyze.stdout.split('\n')[0]})`);
  t.true(score <= 2.0, `exposure ${score}`);
  t.is(m![2], 'OK');
  t.true(fs.readFileSync(DOC, 'utf8').includes(`${m![1]} OK`), 'docs/systemd.md records the score');
  t.true(unit.includes(`${m![1]} OK`), 'the unit header records the score');
});
