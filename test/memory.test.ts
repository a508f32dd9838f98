// What the daemon loads at start: the modules it needs for webhooks and
// hand-offs, and not the heavy ones only sending needs (axios is about 20 MB
// resident; docs/benchmarks.md) or only the management listener's requests
// need (express). Read from the compiled import graph, so it
// holds however the daemon is started.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatabase, CACHE_KIB } from '../src/store/db.js';
import { heapFlag } from '../src/heap.js';
import { tempDir } from './helpers/tmp.js';

const DIST = fileURLToPath(new URL('..', import.meta.url));

/** Every package imported statically (`import ... from`), following relative imports from `entry`. */
function staticPackages(entry: string): Set<string> {
  const packages = new Set<string>();
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const code = fs.readFileSync(file, 'utf8');
    // Static imports and re-exports only; `await import(...)` is how a module is loaded when needed.
    for (const m of code.matchAll(/^(?:import|export)\s[^;]*?\sfrom\s+'([^']+)'|^import\s+'([^']+)'/gm)) {
      const spec = (m[1] ?? m[2])!;
      if (spec.startsWith('.')) visit(path.resolve(path.dirname(file), spec));
      else if (!spec.startsWith('node:')) packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    }
  };
  visit(path.join(DIST, entry));
  return packages;
}

test('websms run loads no HTTP client library at start: the sender (axios) comes only when an interface sends', (t) => {
  const loaded = staticPackages('src/cli/run.js');
  t.true(loaded.has('better-sqlite3'), 'the walk follows the daemon (it finds SQLite)');
  t.false(loaded.has('axios'), `loaded at start: ${[...loaded].sort().join(', ')}`);
});

test('nor express (about 4 MB): webhooks are plain node, and the management API and web page load it at their first request', (t) => {
  const loaded = staticPackages('src/cli/run.js');
  t.true(loaded.has('prom-client'), 'the walk reaches the metrics, which the management listener serves');
  t.false(loaded.has('express'), `loaded at start: ${[...loaded].sort().join(', ')}`);
  // What is loaded when asked for is express's, so the walk from there finds it.
  t.true(staticPackages('src/api/app.js').has('express'));
  t.true(staticPackages('src/web/app.js').has('express'));
});

test('the provider profiles load no HTTP client either (every profile is loaded for webhooks)', (t) => {
  t.false(staticPackages('providers/index.js').has('axios'));
});

test("the daemon's SQLite page cache is a few MB, not better-sqlite3's 16 MB, which a large store fills and keeps resident", (t) => {
  const dir = tempDir();
  const db = openDatabase(path.join(dir, 'websms.db'));
  try {
    t.is(db.pragma('cache_size', { simple: true }), -CACHE_KIB);
    t.true(CACHE_KIB <= 4096, `${CACHE_KIB} KiB`);
  } finally {
    db.close();
  }
});

test("the daemon caps the old generation's growth between full collections, unless node was told otherwise", (t) => {
  t.is(heapFlag(['--max-semi-space-size=4']), '--heap-growing-percent=50');
  t.is(heapFlag(['--heap-growing-percent=80']), undefined);
  t.is(heapFlag(['--heap_growing_percent', '80']), undefined);
  t.regex(fs.readFileSync(path.join(DIST, 'src/cli/run.js'), 'utf8'), /\btuneHeap\(\)/, '`websms run` sets it');
});
