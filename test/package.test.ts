// The README's install path, as a user takes it: `npm pack` (its prepack
// script compiles), `npm install -g` of the tarball into a fresh prefix, and
// websms run from that prefix's bin/. Packing happens in a copy of the
// sources, so the build does not touch the dist/ the other tests run from.
//
// No prebuilt binary can be downloaded here, and compiling better-sqlite3
// from source took 1.5 minutes on a quiet machine and 5 under load, most of
// the suite's time. The test hands prebuild-install (better-sqlite3's install
// step) the binary this checkout already compiled, as a local prebuild: the
// way an offline site installs, and the same package and install steps.
// unix-dgram (one small C file) still compiles from source.

import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { notifySocket } from './helpers/notify-socket.js';
import { until } from './helpers/stack.js';
import { tempDir } from './helpers/tmp.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SOURCES = ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md', 'src', 'providers', 'db', 'web', 'dialplan', 'systemd', 'docs'];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const proc = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    proc.once('error', reject);
    proc.once('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started }));
  });
}

/** A directory holding better-sqlite3's compiled binary under the name prebuild-install looks for. */
async function localPrebuild(work: string): Promise<string> {
  const pkg = path.join(ROOT, 'node_modules', 'better-sqlite3');
  const { version } = JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'), 'utf8')) as { version: string };
  const dir = path.join(work, 'prebuilds');
  fs.mkdirSync(dir);
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  const tar = await run('tar', ['-czf', path.join(dir, name), '-C', pkg, 'build/Release/better_sqlite3.node']);
  if (tar.code !== 0) throw new Error(`tar: ${tar.stderr}`);
  return dir;
}

test('npm pack makes a package that npm install -g puts on the PATH, with the unit, the sample configuration and the dialplan, and that runs from there', async (t) => {
  t.timeout(20 * 60_000);
  const work = tempDir('websms-pack-');
  const source = path.join(work, 'source');
  for (const p of SOURCES) fs.cpSync(path.join(ROOT, p), path.join(source, p), { recursive: true });
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(source, 'node_modules'));

  const pack = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: source });
  t.is(pack.code, 0, pack.stderr);
  const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const files = info!.files.map((f) => f.path);
  for (const f of ['dist/src/main.js', 'dist/src/store/db.js', 'dist/providers/index.js', 'db/001_inbound.sql', 'dialplan/extensions.conf', 'dialplan/manager.conf', 'systemd/websms.service', 'docs/websms.conf.sample', 'docs/systemd.md', 'README.md', 'package.json', 'web/index.html', 'web/app.js', 'web/style.css', 'dist/src/outbound/segments.js']) {
    t.true(files.includes(f), `${f} in the package`);
  }
  t.deepEqual(files.filter((f) => /^(dist\/(test|bench)|src|test|bench)\//.test(f) || f.endsWith('.ts') || f.endsWith('.map')), [], 'no sources, tests, benchmarks or source maps');
  // Every page the README links to is in the package.
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  for (const [, link] of readme.matchAll(/\]\(((?:docs|systemd|dialplan)\/[^)#]+)\)/g)) t.true(files.includes(link!), `README links ${link}`);
  const tarball = path.join(work, info!.filename);

  const prefix = path.join(work, 'prefix');
  const install = await run('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', tarball], {
    cwd: work,
    env: { npm_config_better_sqlite3_local_prebuilds: await localPrebuild(work), JOBS: 'max' },
  });
  t.is(install.code, 0, install.stdout + install.stderr);
  t.log(`npm pack ${(pack.ms / 1000).toFixed(1)} s, npm install -g ${(install.ms / 1000).toFixed(1)} s`);
  const installed = path.join(prefix, 'lib', 'node_modules', 'websms');
  const bin = path.join(prefix, 'bin', 'websms');
  t.true(fs.existsSync(bin));
  const deps = fs.readdirSync(path.join(installed, 'node_modules'));
  for (const dev of ['typescript', 'ava', 'autocannon', '@types']) t.false(deps.includes(dev), `${dev} is a dev dependency`);

  const help = await run(bin, ['--help'], { cwd: work });
  t.is(help.code, 0, help.stderr);
  t.regex(help.stdout, /^usage: websms/);
  const version = await run(bin, ['version'], { cwd: work });
  t.is(version.stdout, `websms ${(JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version}\n`);

  // No websms.conf here: the built-in defaults, printed.
  const empty = tempDir();
  const check = await run(bin, ['check-config', '--json'], { cwd: empty, env: { WEBSMS_CONFIG: '' } });
  t.is(check.code, 0, check.stderr);
  t.is((JSON.parse(check.stdout) as { sections: Record<string, Record<string, string>> }).sections.general!.listen, '127.0.0.1:8080');

  // The dialplan shipped inside the package, listed and not written.
  const dest = path.join(empty, 'asterisk');
  const dry = await run(bin, ['dialplan', 'install', '--dry-run', '--dest', dest], { cwd: work });
  t.is(dry.code, 0, dry.stdout + dry.stderr);
  t.regex(dry.stdout, /extensions\.conf/);
  t.false(fs.existsSync(path.join(dest, 'extensions.conf')), 'a dry run writes nothing');

  // The daemon from the prefix: migrations and the web page's files found in the package, READY=1 through the compiled unix-dgram.
  const dir = tempDir();
  const conf = path.join(dir, 'websms.conf');
  fs.writeFileSync(conf, `[general]\nlisten = 127.0.0.1:0\ndatabase = ${path.join(dir, 'state', 'websms.db')}\n[agi]\nlisten = 127.0.0.1:0\n[api]\nlisten = 127.0.0.1:0\n[ami]\nport = ${await closedPort()}\n`);
  const sock = notifySocket();
  t.teardown(() => sock.close());
  const daemon = spawn(bin, ['--config', conf, 'run'], { cwd: dir, env: { PATH: process.env.PATH, NOTIFY_SOCKET: sock.path }, stdio: 'ignore' });
  t.teardown(() => daemon.kill('SIGKILL'));
  const exited = new Promise<number | null>((r) => daemon.once('exit', r));
  await sock.next('READY', '1', 0, 30_000);
  t.is((fs.statSync(path.join(dir, 'state', 'websms.db')).mode & 0o777).toString(8), '600');
  daemon.kill('SIGTERM');
  t.is(await exited, 0);
  await until(() => sock.messages.some((m) => m.STOPPING === '1'), 5000, 'STOPPING=1');

  // The unit as shipped, with ExecStart pointing at this prefix (systemd finds /usr/bin or /usr/local/bin itself).
  const analyze = await run('systemd-analyze', ['--version']).catch(() => undefined);
  if (analyze?.code !== 0) {
    t.log('systemd-analyze is not on this machine: the installed unit was not verified');
    return;
  }
  const unit = path.join(work, 'websms.service');
  fs.writeFileSync(unit, fs.readFileSync(path.join(installed, 'systemd', 'websms.service'), 'utf8').replace(/^ExecStart=websms /m, `ExecStart=${bin} `));
  const verify = await run('systemd-analyze', ['verify', unit]);
  t.is(verify.code, 0, verify.stderr);
  t.is(verify.stderr.trim(), '');
});

/** A loopback port with nothing listening: AMI is not needed for READY=1. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}
