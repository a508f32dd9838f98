// `websms dialplan install` as a user runs it: the real CLI on a temporary destination.

import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { SHIPPED_COPY_DIR, SHIPPED_DIALPLAN_DIR, backupSuffix, installDialplan, listFiles } from '../src/dialplan/install.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

const shipped = listFiles(SHIPPED_DIALPLAN_DIR);

/** Every file of dir, relative path -> content; the installer's record of what it shipped left out. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!fs.existsSync(dir)) return out;
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      if (rel === '' && e.name === SHIPPED_COPY_DIR) continue;
      const r = path.join(rel, e.name);
      if (e.isDirectory()) walk(r);
      else out[r] = fs.readFileSync(path.join(dir, r), 'utf8');
    }
  };
  walk('');
  return out;
}

test('the shipped dialplan directory is found and holds the suite', (t) => {
  t.true(shipped.includes('extensions.conf'));
  t.true(shipped.includes('extensions_local.conf'));
});

test('a fresh install creates the destination and copies every shipped file', async (t) => {
  const dest = path.join(tempDir(), 'etc', 'asterisk');
  const r = await runCli(['dialplan', 'install', '--dest', dest]);
  t.is(r.code, 0, r.stderr);
  const got = tree(dest);
  t.deepEqual(Object.keys(got).sort(), [...shipped].sort());
  for (const f of shipped) {
    t.is(got[f], fs.readFileSync(path.join(SHIPPED_DIALPLAN_DIR, f), 'utf8'), f);
    t.regex(r.stdout, new RegExp(`${escape(path.join(dest, f))}: installed`));
  }
  // What is left to do by hand.
  for (const s of ['pjsip_endpoint.conf', 'keys', 'CONTRY_CODE', 'WEBSMS_AMI_SECRET', "asterisk -rx 'core reload'", 'dialplan reload']) t.true(r.stdout.includes(s), s);
  // No temporary files are left behind.
  t.false(fs.readdirSync(dest).some((n) => n.includes('websms-tmp')));
});

test('a second run finds every file unchanged and writes nothing', async (t) => {
  const dest = tempDir();
  t.is((await runCli(['dialplan', 'install', '--dest', dest])).code, 0);
  const mtimes = shipped.map((f) => fs.statSync(path.join(dest, f)).mtimeMs);
  const r = await runCli(['dialplan', 'install', '--dest', dest]);
  t.is(r.code, 0, r.stderr);
  for (const f of shipped) t.regex(r.stdout, new RegExp(`${escape(path.join(dest, f))}: unchanged`));
  t.deepEqual(shipped.map((f) => fs.statSync(path.join(dest, f)).mtimeMs), mtimes);
  t.deepEqual(Object.keys(tree(dest)).sort(), [...shipped].sort(), 'no backups');
});

test('the edits it asks for are kept, and a second run exits 0 (our version has not changed)', async (t) => {
  const dest = tempDir();
  t.is((await runCli(['dialplan', 'install', '--dest', dest])).code, 0);
  const mine = path.join(dest, 'extensions_local.conf');
  fs.writeFileSync(mine, '[globals]\nCONTRY_CODE = 46\n; my own edits\n');
  const r = await runCli(['dialplan', 'install', '--dest', dest]);
  t.is(r.code, 0, r.stdout);
  t.regex(r.stdout, new RegExp(`${escape(mine)}: has your edits; kept \\(our version has not changed since\\)`));
  t.is(fs.readFileSync(mine, 'utf8'), '[globals]\nCONTRY_CODE = 46\n; my own edits\n');
  t.regex(r.stdout, new RegExp(`${escape(path.join(dest, 'extensions.conf'))}: unchanged`));
  t.false(fs.readdirSync(dest).some((n) => n.includes('websms-backup') || n.includes('websms-new')), 'nothing replaced or offered');
});

test('with --force a changed file is replaced and the old one kept as a timestamped backup', async (t) => {
  const dest = tempDir();
  const mine = path.join(dest, 'extensions.conf');
  fs.writeFileSync(mine, '; the extensions.conf I had before\n');
  fs.chmodSync(mine, 0o640);
  const before = new Date();
  const r = await runCli(['dialplan', 'install', '--dest', dest, '--force']);
  t.is(r.code, 0, r.stderr);
  t.is(fs.readFileSync(mine, 'utf8'), fs.readFileSync(path.join(SHIPPED_DIALPLAN_DIR, 'extensions.conf'), 'utf8'));
  t.is(fs.statSync(mine).mode & 0o777, 0o640, 'the replaced file keeps its mode');
  const backups = fs.readdirSync(dest).filter((n) => n.startsWith('extensions.conf.websms-backup-'));
  t.is(backups.length, 1);
  t.regex(backups[0]!, /^extensions\.conf\.websms-backup-\d{8}T\d{6}$/);
  // The stamp is the local time of the run (to the second).
  const stamp = backups[0]!.slice('extensions.conf'.length);
  t.true(stamp >= backupSuffix(new Date(before.getTime() - 1000)) && stamp <= backupSuffix(new Date()), stamp);
  const backup = path.join(dest, backups[0]!);
  t.is(fs.readFileSync(backup, 'utf8'), '; the extensions.conf I had before\n');
  t.true(r.stdout.includes(`${mine}: replaced (backup: ${backup})`));
  // Files that were not there are simply installed.
  t.regex(r.stdout, new RegExp(`${escape(path.join(dest, 'extensions_local.conf'))}: installed`));
});

test('--dry-run says what would happen and writes nothing', async (t) => {
  const root = tempDir();
  const dest = path.join(root, 'asterisk');
  const r = await runCli(['dialplan', 'install', '--dest', dest, '--dry-run']);
  t.is(r.code, 0, r.stderr);
  t.true(r.stdout.includes('dry run'));
  t.regex(r.stdout, /would be installed/);
  t.false(fs.existsSync(dest), 'the destination is not even created');

  // With a file of the user's: it would be kept and ours offered beside it (exit 1);
  // with --force it would be replaced; still nothing written.
  fs.mkdirSync(dest);
  const mine = path.join(dest, 'extensions.conf');
  fs.writeFileSync(mine, 'mine\n');
  const kept = await runCli(['dialplan', 'install', '--dest', dest, '--dry-run']);
  t.is(kept.code, 1);
  t.regex(kept.stdout, /extensions\.conf: has your edits; would be kept, the new version written beside it: .*extensions\.conf\.websms-new/);
  const forced = await runCli(['dialplan', 'install', '--dest', dest, '--dry-run', '--force']);
  t.is(forced.code, 0);
  t.regex(forced.stdout, /extensions\.conf: would be replaced/);
  t.deepEqual(fs.readdirSync(dest), ['extensions.conf']);
  t.is(fs.readFileSync(mine, 'utf8'), 'mine\n');
});

test('a destination that is a file is refused with exit 73, and nothing is written', async (t) => {
  const root = tempDir();
  const file = path.join(root, 'asterisk');
  fs.writeFileSync(file, 'not a directory\n');
  const r = await runCli(['dialplan', 'install', '--dest', file]);
  t.is(r.code, 73);
  t.regex(r.stderr, /is not a directory/);
  t.regex(r.stderr, /Nothing was changed/);
  t.deepEqual(fs.readdirSync(root), ['asterisk']);
  t.is(fs.readFileSync(file, 'utf8'), 'not a directory\n');

  // Below a file: the directory cannot be created.
  const below = await runCli(['dialplan', 'install', '--dest', path.join(file, 'sub')]);
  t.is(below.code, 73);
  t.regex(below.stderr, /not a directory/);
});

test('a directory where a file goes is refused with exit 73 before anything is written', async (t) => {
  const dest = tempDir();
  fs.mkdirSync(path.join(dest, 'extensions.conf'));
  const r = await runCli(['dialplan', 'install', '--dest', dest]);
  t.is(r.code, 73);
  t.regex(r.stderr, /extensions\.conf is a directory/);
  t.deepEqual(fs.readdirSync(dest), ['extensions.conf']);
});

test('an unwritable destination is refused with exit 73 (permission denied)', async (t) => {
  if (process.getuid?.() === 0) {
    t.pass('running as root: permissions are not enforced');
    return;
  }
  const dest = tempDir();
  fs.chmodSync(dest, 0o555);
  t.teardown(() => fs.chmodSync(dest, 0o755));
  const r = await runCli(['dialplan', 'install', '--dest', dest]);
  t.is(r.code, 73);
  t.regex(r.stderr, /permission denied/);
  t.deepEqual(fs.readdirSync(dest), []);
});

test('usage errors exit 64', async (t) => {
  t.is((await runCli(['dialplan', 'install', '--bogus'])).code, 64);
  t.is((await runCli(['dialplan', 'install', '--dest'])).code, 64);
  t.is((await runCli(['dialplan', 'install', 'extra'])).code, 64);
  t.is((await runCli(['dialplan', 'frobnicate'])).code, 64);
  const help = await runCli(['dialplan', 'install', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /^ {2}1 {3}a <file>\.websms-new waits for you to merge it/m);
  t.regex(help.stdout, /except websms\.conf/);
});

// ---- upgrades ------------------------------------------------------------

/** A copy of the shipped suite, as another websms version would ship it. */
function suite(edit: (file: string, text: string) => string = (_, x) => x): string {
  const dir = tempDir('websms-suite-');
  for (const f of shipped) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), edit(f, fs.readFileSync(path.join(SHIPPED_DIALPLAN_DIR, f), 'utf8')));
  }
  return dir;
}

const v1 = suite((f, x) => (f === 'extensions_local.conf' || f === 'rtp.conf' ? x.replace(/\n$/, '\n; an old line that version 2 removed\n') : x));
const v2 = SHIPPED_DIALPLAN_DIR;

test('upgrade: an untouched file is updated, an edited one kept with the new version beside it', (t) => {
  const dest = tempDir();
  const first = installDialplan({ source: v1, dest });
  t.true(first.files.every((f) => f.action === 'installed'));
  const local = path.join(dest, 'extensions_local.conf');
  const edited = fs.readFileSync(local, 'utf8').replace('CONTRY_CODE', 'CONTRY_CODE = 1\n;CONTRY_CODE');
  fs.writeFileSync(local, edited);

  const r = installDialplan({ source: v2, dest });
  const by = Object.fromEntries(r.files.map((f) => [f.file, f]));
  t.is(by['rtp.conf']!.action, 'updated', 'not edited: the new version replaces it');
  t.is(fs.readFileSync(path.join(dest, 'rtp.conf'), 'utf8'), fs.readFileSync(path.join(v2, 'rtp.conf'), 'utf8'));
  t.regex(fs.readFileSync(by['rtp.conf']!.backup!, 'utf8'), /an old line that version 2 removed/, 'the old one is kept as a backup');

  const l = by['extensions_local.conf']!;
  t.is(l.action, 'offered');
  t.is(fs.readFileSync(local, 'utf8'), edited, 'the edited file is never overwritten');
  t.is(l.newFile, `${local}.websms-new`);
  t.is(fs.readFileSync(l.newFile!, 'utf8'), fs.readFileSync(path.join(v2, 'extensions_local.conf'), 'utf8'));
  // What changed is websms's change since the version the user edited, not the user's own edits.
  t.is(l.diffOf, 'shipped');
  t.regex(l.diff!, /^-; an old line that version 2 removed$/m);
  t.notRegex(l.diff!, /CONTRY_CODE = 1/);
  t.deepEqual(r.toMerge.map((f) => f.file), ['extensions_local.conf']);
  t.is(by['extensions.conf']!.action, 'unchanged');
});

test('upgrade from the CLI: the difference shown, exit 1 until the .websms-new file is merged and deleted, then 0', async (t) => {
  const dest = tempDir();
  installDialplan({ source: v1, dest });
  const local = path.join(dest, 'extensions_local.conf');
  fs.appendFileSync(local, '; my edit\n');

  const r = await runCli(['dialplan', 'install', '--dest', dest]);
  t.is(r.code, 1, r.stdout + r.stderr);
  t.true(r.stdout.includes(`${local}: has your edits; kept, and the new version written beside it: ${local}.websms-new`));
  t.true(r.stdout.includes('What websms changed in extensions_local.conf since the version you edited'));
  t.true(r.stdout.includes('  -; an old line that version 2 removed'));
  t.regex(r.stdout, /Merge what you need into your file and delete the \.websms-new file; then this command exits 0/);
  t.regex(r.stdout, /rtp\.conf: updated to the new version \(you had not edited it\) \(backup: /);

  // Not merged yet: said again, still exit 1, the user's file untouched.
  const again = await runCli(['dialplan', 'install', '--dest', dest]);
  t.is(again.code, 1);
  t.true(again.stdout.includes(`${local}: has your edits; kept (our version has not changed since); ${local}.websms-new is still there: merge it, then delete it`));
  t.regex(fs.readFileSync(local, 'utf8'), /; my edit\n$/);

  // Merged: the user deletes the new file; from now on the run exits 0 and offers nothing.
  fs.rmSync(`${local}.websms-new`);
  const done = await runCli(['dialplan', 'install', '--dest', dest]);
  t.is(done.code, 0, done.stdout);
  t.false(fs.existsSync(`${local}.websms-new`));
});

test('upgrade: taking the new version whole removes the .websms-new file it came from', async (t) => {
  const dest = tempDir();
  installDialplan({ source: v1, dest });
  const local = path.join(dest, 'extensions_local.conf');
  fs.appendFileSync(local, '; my edit\n');
  t.is((await runCli(['dialplan', 'install', '--dest', dest])).code, 1);
  fs.copyFileSync(`${local}.websms-new`, local);
  const r = await runCli(['dialplan', 'install', '--dest', dest]);
  t.is(r.code, 0, r.stdout);
  t.true(r.stdout.includes(`${local}: unchanged (${local}.websms-new was removed: no longer needed)`));
  t.false(fs.existsSync(`${local}.websms-new`));
});

test('upgrade without a record of what was installed (an older websms, or files of your own): the difference to yours is shown', async (t) => {
  const dest = tempDir();
  const mine = path.join(dest, 'manager.conf');
  fs.writeFileSync(mine, '[general]\nenabled = yes\nmy_own_line = 1\n');
  const r = await runCli(['dialplan', 'install', '--dest', dest]);
  t.is(r.code, 1);
  t.true(r.stdout.includes("How websms's manager.conf differs from yours"));
  t.true(r.stdout.includes('  -my_own_line = 1'));
  t.is(fs.readFileSync(mine, 'utf8'), '[general]\nenabled = yes\nmy_own_line = 1\n');
  t.is(fs.readFileSync(`${mine}.websms-new`, 'utf8'), fs.readFileSync(path.join(SHIPPED_DIALPLAN_DIR, 'manager.conf'), 'utf8'));
  // A long difference is cut, with the command that shows all of it.
  const big = await runCli(['dialplan', 'install', '--dest', (() => {
    const d = tempDir();
    fs.writeFileSync(path.join(d, 'extensions.conf'), '; nothing like ours\n');
    return d;
  })()]);
  t.regex(big.stdout, /\.\.\. \d+ more line\(s\): diff -u \S+extensions\.conf \S+extensions\.conf\.websms-new/);
});

test('websms.conf is websms\'s configuration: not installed into the Asterisk directory, and the output says where it goes', async (t) => {
  t.true(fs.existsSync(path.join(SHIPPED_DIALPLAN_DIR, 'websms.conf')));
  t.false(shipped.includes('websms.conf'));
  const dest = tempDir();
  const r = await runCli(['dialplan', 'install', '--dest', dest]);
  t.is(r.code, 0);
  t.false(fs.existsSync(path.join(dest, 'websms.conf')));
  t.regex(r.stdout, /websms's own configuration is not installed here: start from\s+\S+websms\.conf as \/etc\/websms\/websms\.conf/);
  t.false(r.stdout.includes('/etc/asterisk/websms.conf'));
  // The docs and the file's own header say the same, and never suggest the path
  // of PrivateDial's PHP WebSMS configuration.
  const header = fs.readFileSync(path.join(SHIPPED_DIALPLAN_DIR, 'websms.conf'), 'utf8');
  const doc = fs.readFileSync(path.join(SHIPPED_DIALPLAN_DIR, '..', 'docs', 'dialplan.md'), 'utf8');
  for (const text of [header, doc]) t.false(/\/etc\/asterisk\/websms\.conf/.test(text));
  t.regex(header, /"websms dialplan install" does not\n; copy it/);
  t.regex(doc, /Every file of `dialplan\/` but `websms\.conf` is copied/);
  t.regex(doc, /\| `websms\.conf` \| websms, not Asterisk: \*\*not installed\*\*/);
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
