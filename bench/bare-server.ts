// The ceiling websms is measured against: a bare Node HTTP server that stores
// each request in SQLite (WAL, synchronous=FULL) and answers after the commit.
//   node bare-server.js none     no storage: what HTTP and the load client cost alone
//   node bare-server.js single   one transaction (one fsync) per request
//   node bare-server.js group    group commit: requests that arrive during a commit share the next
import http from 'node:http';
import Database from 'better-sqlite3';
import type { AddressInfo } from 'node:net';

const [mode = 'group', file = ':memory:'] = process.argv.slice(2);
const db = new Database(file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.exec('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
const insert = db.prepare('INSERT INTO t (body) VALUES (?)');
const many = db.transaction((bodies: string[]) => {
  for (const b of bodies) insert.run(b);
});

let batch: Array<{ body: string; res: http.ServerResponse }> = [];
let scheduled = false;
function flush(): void {
  scheduled = false;
  const items = batch;
  batch = [];
  many(items.map((i) => i.body));
  for (const i of items) i.res.writeHead(200, { 'content-type': 'text/plain' }).end();
}

const server = http.createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (d: string) => (body += d));
  req.on('end', () => {
    if (mode === 'none') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end();
      return;
    }
    if (mode === 'single') {
      many([body]);
      res.writeHead(200, { 'content-type': 'text/plain' }).end();
      return;
    }
    batch.push({ body, res });
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
process.on('SIGTERM', () => {
  server.close();
  db.close();
  process.exit(0);
});
