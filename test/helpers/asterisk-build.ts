// Finds an Asterisk 22 this machine can run, for the test tier that sends
// texts through a real Asterisk (test/asterisk-*.test.ts). Candidates, first
// that runs wins:
//   1. WEBSMS_ASTERISK: a path to any of the forms below; when it is set,
//      nothing else is tried;
//   2. ../shared/asterisk beside the repository: a tarball of a build with
//      bin/, sbin/, lib/ (its README), unpacked once into the cache folder;
//   3. Debian's build, fetched by test/asterisk/fetch-debian.sh into
//      <cache>/asterisk-debian (usr/sbin/asterisk, its own C library).
// A candidate "runs" when `asterisk -rx` starts and exits by itself: a build
// made for another CPU dies at once with SIGILL (the shared build uses
// AVX-512), one missing a library exits with the loader's message.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** How to start one Asterisk build and where its read-only parts are. */
export interface AsteriskBuild {
  /** Where it came from, for messages. */
  source: string;
  /** argv prefix that starts the daemon (the binary, or a loader and the binary). */
  command: string[];
  /** Extra environment (LD_LIBRARY_PATH and the like). */
  env: Record<string, string>;
  /** astmoddir. */
  modules: string;
  /** astdatadir: the XML documentation some modules refuse to start without. */
  data: string;
  /** astsbindir. */
  sbin: string;
}

export type FindResult = { build: AsteriskBuild } | { build?: undefined; reason: string };

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const FETCH_SCRIPT = 'test/asterisk/fetch-debian.sh';

/** The cache folder fetch-debian.sh uses (keep the two in step). */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.WEBSMS_CACHE_DIR || path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'websms');
}

const isFile = (p: string): boolean => fs.existsSync(p) && fs.statSync(p).isFile();

/** A folder laid out as the shared build: sbin/asterisk, lib/, lib/asterisk/modules, var/lib/asterisk. */
function sharedLayout(dir: string, source: string): AsteriskBuild | undefined {
  if (!isFile(path.join(dir, 'sbin', 'asterisk'))) return undefined;
  return {
    source,
    command: [path.join(dir, 'sbin', 'asterisk')],
    env: { LD_LIBRARY_PATH: path.join(dir, 'lib') },
    modules: path.join(dir, 'lib', 'asterisk', 'modules'),
    data: path.join(dir, 'var', 'lib', 'asterisk'),
    sbin: path.join(dir, 'sbin'),
  };
}

/** A folder with Debian's packages unpacked: started through its own loader and libraries. */
function debianLayout(dir: string, source: string): AsteriskBuild | undefined {
  const triplet = os.arch() === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';
  const loader = os.arch() === 'arm64' ? 'ld-linux-aarch64.so.1' : 'ld-linux-x86-64.so.2';
  const lib = path.join(dir, 'usr', 'lib', triplet);
  const bin = path.join(dir, 'usr', 'sbin', 'asterisk');
  if (!isFile(bin) || !isFile(path.join(lib, loader))) return undefined;
  return {
    source,
    command: [path.join(lib, loader), '--library-path', lib, bin],
    // iconv's modules and the locale must match the fetched C library, not the host's
    env: { GCONV_PATH: path.join(lib, 'gconv'), LC_ALL: 'C' },
    modules: path.join(lib, 'asterisk', 'modules'),
    data: path.join(dir, 'usr', 'share', 'asterisk'),
    sbin: path.join(dir, 'usr', 'sbin'),
  };
}

/** Unpacks a tarball of the shared build once, into the cache, keyed by its content. */
function unpack(tarball: string): string {
  const hash = createHash('sha256').update(fs.readFileSync(tarball)).digest('hex').slice(0, 16);
  const dest = path.join(cacheDir(), `asterisk-${hash}`);
  if (fs.existsSync(path.join(dest, 'asterisk', 'sbin', 'asterisk'))) return path.join(dest, 'asterisk');
  fs.mkdirSync(cacheDir(), { recursive: true });
  const tmp = fs.mkdtempSync(`${dest}.new-`);
  const r = spawnSync('tar', ['-xf', tarball, '-C', tmp], { encoding: 'utf8' });
  if (r.status !== 0) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw new Error(`could not unpack ${tarball}: ${r.stderr.trim()}`);
  }
  fs.rmSync(dest, { recursive: true, force: true });
  fs.renameSync(tmp, dest); // several test files may race here: whole folder or nothing
  return path.join(dest, 'asterisk');
}

/** Any of the accepted forms of a path: a build folder, a tarball, or a folder holding one tarball. */
function fromPath(p: string, source: string): AsteriskBuild | string {
  if (!fs.existsSync(p)) return `${source}: ${p} does not exist`;
  if (isFile(p)) return fromPath(unpack(p), source);
  const direct = sharedLayout(p, source) ?? debianLayout(p, source) ?? sharedLayout(path.join(p, 'asterisk'), source);
  if (direct) return direct;
  const tarballs = fs.readdirSync(p).filter((f) => /^asterisk-.*\.tar(\.(xz|gz|bz2))?$/.test(f));
  if (tarballs.length === 1) return fromPath(unpack(path.join(p, tarballs[0]!)), source);
  return `${source}: ${p} holds no Asterisk build (sbin/asterisk, usr/sbin/asterisk or one asterisk-*.tar.xz)`;
}

/**
 * Whether the build starts on this machine. `-rx` against a control socket
 * that is not there makes a working Asterisk exit 1 at once ("Unable to
 * connect"); a build for another CPU dies by SIGILL before that.
 */
export function probe(build: AsteriskBuild): string | undefined {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'websms-asterisk-probe-'));
  try {
    const conf = path.join(dir, 'asterisk.conf');
    fs.writeFileSync(conf, `[directories]\nastrundir => ${dir}\nastlogdir => ${dir}\nastvarlibdir => ${dir}\nastdbdir => ${dir}\n`);
    const [cmd, ...args] = build.command;
    const r = spawnSync(cmd!, [...args, '-C', conf, '-rx', 'core show version'], {
      env: { ...process.env, ...build.env },
      encoding: 'utf8',
      timeout: 10_000,
    });
    if (r.error) return `${build.source}: ${r.error.message}`;
    if (r.signal === 'SIGILL') {
      const avx512 = /\bavx512f\b/.test(fs.readFileSync('/proc/cpuinfo', 'utf8'));
      return `${build.source} dies with SIGILL: built for instructions this CPU lacks${avx512 ? '' : ' (it has no AVX-512)'}`;
    }
    if (r.signal) return `${build.source} died with ${r.signal}`;
    const loaderError = /error while loading shared libraries: .*/.exec(r.stderr)?.[0];
    if (loaderError) return `${build.source}: ${loaderError}`;
    return undefined;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function sharedCandidate(): AsteriskBuild | string | undefined {
  const shared = path.join(REPO, '..', 'shared', 'asterisk');
  return fs.existsSync(shared) ? fromPath(shared, '../shared/asterisk') : undefined;
}

function debianCandidate(env: NodeJS.ProcessEnv): AsteriskBuild | string | undefined {
  const dir = path.join(cacheDir(env), 'asterisk-debian');
  if (!isFile(path.join(dir, '.complete'))) return `Debian's build is not fetched (run ${FETCH_SCRIPT})`;
  return debianLayout(dir, `Debian's ${fs.readFileSync(path.join(dir, '.version'), 'utf8').trim()}`);
}

/** The first runnable build, or why there is none (every candidate's reason). */
export function findAsterisk(env: NodeJS.ProcessEnv = process.env): FindResult {
  // A path given explicitly is the only candidate: falling back would hide that it does not run.
  const explicit = env.WEBSMS_ASTERISK;
  const candidates: Array<() => AsteriskBuild | string | undefined> = explicit
    ? [() => fromPath(path.resolve(explicit), `WEBSMS_ASTERISK=${explicit}`)]
    : [sharedCandidate, () => debianCandidate(env)];
  const reasons: string[] = [];
  for (const candidate of candidates) {
    let found: AsteriskBuild | string | undefined;
    try {
      found = candidate();
    } catch (err) {
      found = (err as Error).message;
    }
    if (found === undefined) continue;
    if (typeof found === 'string') {
      reasons.push(found);
      continue;
    }
    const failure = probe(found);
    if (!failure) return { build: found };
    reasons.push(failure);
  }
  return { reason: reasons.join('; ') || 'no Asterisk build found' };
}
