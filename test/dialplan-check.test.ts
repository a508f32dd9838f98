import test from 'ava';
import { fileURLToPath } from 'node:url';
import { checkDialplan, formatFindings, type Finding } from '../src/dialplan/check.js';
import { extensionKey, extensionMatches, loadDialplan } from '../src/dialplan/parse.js';

// Compiled to dist/test/: the shipped dialplan and the fixtures (not .ts, so
// not copied by tsc) are read from the source tree.
const SHIPPED = fileURLToPath(new URL('../../dialplan/', import.meta.url));
const fixture = (name: string) => fileURLToPath(new URL(`../../test/fixtures/dialplan/${name}/`, import.meta.url));
const check = (name: string) => checkDialplan(fixture(name));
const error = (file: string, line: number, message: string): Finding => ({ file, line, severity: 'error', message });
const ext = (line: number, message: string) => error('extensions.conf', line, message);
const wiz = (line: number, message: string) => error('pjsip_wizard.conf', line, message);

test('the shipped dialplan has no errors', (t) => {
  const findings = checkDialplan(SHIPPED);
  const errors = findings.filter((f) => f.severity === 'error');
  t.deepEqual(errors, [], `\n${formatFindings(findings)}`);
});

test('Goto to a missing context', (t) => {
  t.deepEqual(check('goto-context'), [ext(4, 'Goto target dp_nowhere,s,1: context dp_nowhere does not exist')]);
});

test('Goto to an extension the context lacks (a pattern matching another one is fine)', (t) => {
  t.deepEqual(check('goto-exten'), [ext(3, 'Goto target dp_target,100,1: extension 100 does not exist in context dp_target')]);
});

test('Goto(label) and Goto(exten,label) to missing labels', (t) => {
  t.deepEqual(check('goto-label'), [
    ext(5, 'Goto target finish: label finish does not exist in extension s of context dp_start'),
    ext(8, 'Goto target s,nolabel: label nolabel does not exist in extension s of context dp_start'),
  ]);
});

test('Gosub to a missing priority, and to a label given as the priority', (t) => {
  t.deepEqual(check('gosub-priority'), [
    ext(4, 'Gosub target sub_x,s,3: priority 3 does not exist in extension s of context sub_x'),
    ext(6, 'Gosub target sub_x,s,begin: label begin does not exist in extension s of context sub_x'),
  ]);
});

test('GotoIf and GosubIf: only the bad branch is reported', (t) => {
  t.deepEqual(check('gotoif-branch'), [
    ext(4, 'GotoIf target dp_nowhere,s,1: context dp_nowhere does not exist'),
    ext(5, 'GosubIf target sub_gone,s,1: context sub_gone does not exist'),
  ]);
});

test('include => of a missing context (a time-limited include is read right)', (t) => {
  t.deepEqual(check('include-context'), [ext(4, 'include => dp_nowhere: context dp_nowhere does not exist')]);
});

test('#include of a missing file; #tryinclude of one is fine; paths relative to the including file', (t) => {
  t.deepEqual(check('include-file'), [
    ext(7, '#include missing.conf: file missing.conf does not exist: Asterisk refuses to load extensions.conf at all'),
  ]);
});

test('duplicate priorities, also through n and equivalent patterns', (t) => {
  t.deepEqual(check('duplicate-priority'), [
    ext(6, 'duplicate priority 2 of extension s in context dp_start, first defined at extensions.conf:5: Asterisk ignores this line'),
    ext(8, 'duplicate priority 1 of extension _[0-9]. in context dp_start, first defined at extensions.conf:7: Asterisk ignores this line'),
  ]);
});

test('same => without a preceding exten =>', (t) => {
  t.deepEqual(check('same-without-exten'), [
    ext(3, 'same => without a preceding exten => in context dp_start: Asterisk ignores this line'),
  ]);
});

test('wizard endpoint/context that does not exist', (t) => {
  t.deepEqual(check('wizard-context'), [
    wiz(5, 'endpoint/context = dp_entry_calling: context dp_entry_calling does not exist in extensions.conf'),
  ]);
});

test('wizard endpoint/message_context that does not exist', (t) => {
  t.deepEqual(check('wizard-message-context'), [
    wiz(6, 'endpoint/message_context = dp_entry_texting: context dp_entry_texting does not exist in extensions.conf'),
  ]);
});

test('wizard hint_context that does not exist', (t) => {
  t.deepEqual(check('wizard-hint-context'), [
    wiz(8, 'hint_context = dp_lookup_user: context dp_lookup_user does not exist in extensions.conf'),
  ]);
});

test('bad contexts in templates: checked even unused, and through sections in an #included file, reported once', (t) => {
  // tpl_endpoint has no type of its own: it is checked through "desk", which
  // is type=endpoint. "overridden" replaces the template's value, but the
  // template (and john.doe, jane.doe) still carry it.
  t.deepEqual(check('wizard-template'), [
    wiz(6, 'endpoint/message_context = dp_entry_texting: context dp_entry_texting does not exist in extensions.conf'),
    wiz(11, 'endpoint/context = dp_never_used: context dp_never_used does not exist in extensions.conf'),
    wiz(14, 'context = dp_bad_endpoint: context dp_bad_endpoint does not exist in extensions.conf'),
  ]);
});

test('targets resolve through patterns and includes; what no pattern matches is reported', (t) => {
  t.deepEqual(check('pattern-resolution'), [
    ext(7, 'Goto target dp_lookup,46701234567,1: extension 46701234567 does not exist in context dp_lookup'),
    ext(8, 'Goto target dp_entry,5,1: extension 5 does not exist in context dp_entry or what it includes'),
  ]);
});

test('dynamic targets are skipped, their literal parts still checked', (t) => {
  t.deepEqual(check('dynamic'), [ext(9, 'Gosub target sub_trunk,${EXTEN},5: no extension in context sub_trunk has priority 5')]);
});

test('syntax: block comments, escapes, templates, (+), hints and unknown directives', (t) => {
  t.deepEqual(check('syntax'), [
    ext(4, 'unknown directive #frobnicate: Asterisk ignores this line'),
    ext(22, 'priority n after a hint line is priority 0: Asterisk drops this line without a word'),
    { file: 'extensions.conf', line: 24, severity: 'warning', message: 'extension 300 in context dp_start has no priority 1: a call to it finds nothing to run' },
    ext(25, 'unknown directive exen in context dp_start: Asterisk ignores this line'),
    // dp_ghost is inside a block comment, so it does not exist.
    ext(28, 'Goto target dp_ghost,s,1: context dp_ghost does not exist'),
    {
      file: 'extensions.conf',
      line: 30,
      severity: 'error',
      message: '[dp_late](+) adds to a section not defined before this line: Asterisk refuses to load extensions.conf at all',
    },
  ]);
});

test('the parsed model: inherited priorities, escapes, n across extensions and (+) continuation', (t) => {
  const { dialplan } = loadDialplan(fixture('syntax'));
  const s = dialplan.contexts.get('sub_b')!.extensions.find((e) => e.name === 's')!;
  t.deepEqual([...s.priorities.keys()], [1, 2, 3]);
  t.like(s.priorities.get(1), { app: 'Set', data: 'X=a;b', file: 'extensions.conf', line: 11, inheritedFrom: 'tpl_sub' });
  t.like(s.priorities.get(3), { app: 'Goto', data: 'sub_a,s,1', line: 16 });
  t.false(dialplan.contexts.has('tpl_sub'));
  t.false(dialplan.contexts.has('dp_ghost'));
  const start = dialplan.contexts.get('dp_start')!;
  t.deepEqual(
    start.extensions.map((e) => [e.name, [...e.priorities.keys()]]),
    [
      ['s', [1, 2]],
      ['100', [-1]],
      ['200', [1]],
      ['300', [2, 3]],
    ],
  );
  // (+) adds to the section before it: still one section.
  t.deepEqual(start.sections, [{ file: 'extensions.conf', line: 18 }]);
});

test('extension patterns match as in Asterisk', (t) => {
  const yes: [string, string][] = [
    ['_0ZXXXXXX.', '0701234567'],
    ['_0ZXXXXXX.', '070123456'],
    ['_[+0-9].', '+46701234567'],
    ['_+X.', '+46701234567'],
    ['_X!', '5'],
    ['_x.', '12'],
    ['_NXX-XXX', '223-456'],
    ['_NXX-XXX', '223456'],
    ['_[a-c]', 'b'],
    ['_*[0-4]', '*3'],
    ['1-00', '100'],
    ['s', 's'],
  ];
  const no: [string, string][] = [
    ['_0ZXXXXXX.', '07012345'],
    ['_0ZXXXXXX.', '0012345678'],
    ['_X.', '5'],
    ['_X.', 's'],
    ['_NXX', '123'],
    ['_[+0-9].', 's'],
    ['_[a-c]', 'd'],
    ['100', '1000'],
    ['s', 'S'],
  ];
  for (const [pattern, exten] of yes) t.true(extensionMatches(pattern, exten), `${pattern} matches ${exten}`);
  for (const [pattern, exten] of no) t.false(extensionMatches(pattern, exten), `${pattern} does not match ${exten}`);
  t.is(extensionKey('_X.'), extensionKey('_[0-9].'));
  t.is(extensionKey('_NXX'), extensionKey('_[2-9]XX'));
  t.not(extensionKey('_X.'), extensionKey('_Z.'));
});

test('formatFindings writes file:line: severity: message, one a line', (t) => {
  t.is(
    formatFindings([ext(42, 'Gosub target sub_dial_term,s,1: context sub_dial_term does not exist'), wiz(3, 'x')]),
    'extensions.conf:42: error: Gosub target sub_dial_term,s,1: context sub_dial_term does not exist\npjsip_wizard.conf:3: error: x',
  );
  t.is(formatFindings([]), '');
});

/**
 * Every way through one extension: GotoIf takes both branches, While runs its
 * body once or not at all, Return ends the way. Each way is the list of
 * priorities it runs, as "App(data)". The variables in `tracked` are followed
 * (set by Set(x=<something>), emptied by Set(x=) or Set(LOCAL(x)=)), so a
 * GotoIf($["${x}" = ""]?label) on one of them takes only the branch it can;
 * `decide` may settle other GotoIfs from the way so far (true: jump).
 */
function waysThrough(
  ext: { priorities: Map<number, { app: string; data: string }>; labels: Map<string, { number: number }> },
  tracked: string[] = [],
  decide: (data: string, way: string[]) => boolean | undefined = () => undefined,
): string[][] {
  const at = (label: string): number => ext.labels.get(label)?.number ?? Number(label);
  const endOfLoop = (from: number): number => {
    for (let p = from + 1, depth = 0; ext.priorities.has(p); p++) {
      const app = ext.priorities.get(p)!.app.toLowerCase();
      if (app === 'while') depth++;
      if (app === 'endwhile' && depth-- === 0) return p + 1;
    }
    throw new Error('While without EndWhile');
  };
  const ways: string[][] = [];
  const walk = (p: number, seen: string[], set: ReadonlySet<string>): void => {
    const pri = ext.priorities.get(p);
    if (!pri) return void ways.push(seen);
    const step = [...seen, `${pri.app}(${pri.data})`];
    const app = pri.app.toLowerCase();
    if (app === 'set') {
      const m = /^(?:LOCAL\()?([A-Za-z_]+)\)?=(.*)$/.exec(pri.data);
      if (m && tracked.includes(m[1]!)) {
        const next = new Set(set);
        if (m[2] === '') next.delete(m[1]!);
        else next.add(m[1]!);
        return walk(p + 1, step, next);
      }
    }
    if (app === 'return' || app === 'hangup') return void ways.push(step);
    if (app === 'goto') return walk(at(pri.data), step, set);
    if (app === 'gotoif') {
      const target = at(pri.data.slice(pri.data.lastIndexOf('?') + 1));
      const empty = /^\$\["\$\{([A-Za-z_]+)\}" = ""\]\?/.exec(pri.data)?.[1];
      if (empty !== undefined && tracked.includes(empty)) return walk(set.has(empty) ? p + 1 : target, step, set);
      const jump = decide(pri.data, seen);
      if (jump !== undefined) return walk(jump ? target : p + 1, step, set);
      walk(target, step, set);
      return walk(p + 1, step, set);
    }
    if (app === 'while') {
      walk(p + 1, step, set);
      return walk(endOfLoop(p), step, set);
    }
    walk(p + 1, step, set);
  };
  walk(1, [], new Set());
  return ways;
}

test('sub_text_term: the delivery record is looked up under the lock, written only after a MessageSend succeeded, and the lock is always let go', (t) => {
  const { dialplan } = loadDialplan(SHIPPED);
  const s = dialplan.contexts.get('sub_text_term')!.extensions.find((e) => e.name === 's')!;
  // No MessageSend ran: nothing was sent.
  const ways = waysThrough(s, ['record', 'lock'], (data, way) => (data === '$[${sent} = 0]?unlock' ? !way.some((x) => x.startsWith('MessageSend(')) : undefined));
  t.true(ways.length > 10, `${ways.length} ways`);
  const index = (way: string[], re: RegExp): number => way.findIndex((x) => re.test(x));
  let recorded = 0;
  let repeated = 0;
  for (const way of ways) {
    const shown = `\n${way.join('\n')}`;
    const locked = index(way, /^Set\(lock=websms_/);
    const lookup = index(way, /DB_EXISTS\(\$\{record\}\)/);
    const send = index(way, /^MessageSend\(/);
    const write = index(way, /^Set\(DB\(\$\{record\}\)=/);
    const repeat = index(way, /Repeat: yes/);
    const reports = way.filter((x) => x.startsWith('UserEvent(')).length;
    t.true(reports <= 1, `at most one report${shown}`);
    if (lookup >= 0) t.true(locked >= 0 && locked < lookup, `looked up under the lock${shown}`);
    if (locked >= 0) t.true(index(way, /UNLOCK\(\$\{lock\}\)/) > locked, `the lock let go${shown}`);
    if (write >= 0) {
      recorded++;
      t.true(send >= 0 && send < write && lookup >= 0 && lookup < write, `recorded after a lookup and a send${shown}`);
      t.true(way.indexOf('GotoIf($[${sent} = 0]?unlock)') < write, `only when a send succeeded${shown}`);
    }
    if (repeat >= 0) {
      repeated++;
      t.is(send, -1, `a repeat sends nothing${shown}`);
    }
    if (send >= 0 && lookup < 0) t.true(way.some((x) => x.includes('"${WEBSMS_RECORD}" = ""')), `sent without a lookup only when there is no record to keep${shown}`);
  }
  t.true(recorded > 0 && repeated > 0);
});

test('sub_prune_delivered removes whole days of records and their index entry, only once the day plus WEBSMS_KEEP is past', (t) => {
  const { dialplan } = loadDialplan(SHIPPED);
  const s = dialplan.contexts.get('sub_prune_delivered')!.extensions.find((e) => e.name === 's')!;
  for (const way of waysThrough(s)) {
    const del = way.findIndex((x) => x.startsWith('DBdeltree('));
    if (del < 0) continue;
    t.is(way[del], 'DBdeltree(websms_delivered/${day})');
    t.true(way.slice(0, del).includes('GotoIf($[${day} + ${keep} >= ${EPOCH}]?next)'));
    t.true(way.slice(0, del).includes('Set(GLOBAL(WEBSMS_PRUNED_AT)=${EPOCH})'), 'at most once an hour');
    t.is(way[del + 1], 'Set(gone=${DB_DELETE(websms_delivered_days/${day})})');
  }
});
