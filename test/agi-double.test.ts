// Self-test of the Asterisk-side AGI double against small FastAGI servers
// written here: what it does is what Asterisk 22's res_agi does to websms.

import test from 'ava';
import net from 'node:net';
import { evaluateExpression, parseAgiArgs, runAgi, simulateTextTrunk, type AgiClientOptions } from './doubles/agi-client.js';

const BODY = 'Hi :) see you at 10:30\nline 2';
const VARS = {
  'MESSAGE(body)': BODY,
  'MESSAGE(from)': '<sip:alice@192.0.2.1>',
  'MESSAGE(to)': 'pjsip:+46701234567@pbx.example',
  WEBSMS_INDEX: '1',
};

/** One FastAGI connection as the test script sees it: raw lines, UTF-8. */
interface Conn {
  /** Reads the environment block up to its blank line. */
  env(): Promise<Array<[string, string]>>;
  /** Next line from Asterisk (null once it closed). */
  line(timeoutMs?: number): Promise<string | null>;
  /** Sends a command line (adds '\n') and reads n answer lines. */
  cmd(command: string, lines?: number): Promise<string[]>;
  write(raw: string): void;
  end(): void;
}

/** A FastAGI server that runs `script` on its first connection, then closes it. */
async function fastAgi(script: (c: Conn) => Promise<void>): Promise<{ port: number; done: Promise<void>; stop(): void }> {
  let resolveDone!: () => void;
  let rejectDone!: (e: unknown) => void;
  const done = new Promise<void>((res, rej) => ((resolveDone = res), (rejectDone = rej)));
  const server = net.createServer({ allowHalfOpen: true }, (sock) => {
    let buf = Buffer.alloc(0);
    let closed = false;
    const waiting: Array<() => void> = [];
    const wake = (): void => {
      for (const w of waiting.splice(0)) w();
    };
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      wake();
    });
    sock.on('end', () => {
      closed = true;
      wake();
    });
    sock.on('error', () => {
      closed = true;
      wake();
    });
    const line = async (timeoutMs = 3000): Promise<string | null> => {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const i = buf.indexOf(0x0a);
        if (i >= 0) {
          const l = buf.subarray(0, i).toString('utf8');
          buf = buf.subarray(i + 1);
          return l;
        }
        if (closed) return null;
        const left = until - Date.now();
        if (left <= 0) throw new Error('timeout waiting for a line from Asterisk');
        await new Promise<void>((res) => {
          const t = setTimeout(res, left);
          waiting.push(() => (clearTimeout(t), res()));
        });
      }
    };
    const conn: Conn = {
      async env() {
        const pairs: Array<[string, string]> = [];
        for (;;) {
          const l = await line();
          if (l === null || l === '') return pairs;
          const i = l.indexOf(': ');
          pairs.push([l.slice(0, i), l.slice(i + 2)]);
        }
      },
      line,
      async cmd(command, lines = 1) {
        sock.write(command + '\n');
        const out: string[] = [];
        for (let i = 0; i < lines; i++) out.push((await line()) ?? '<closed>');
        return out;
      },
      write: (raw) => void sock.write(raw),
      end: () => void sock.end(),
    };
    script(conn).then(
      () => {
        sock.end();
        resolveDone();
      },
      (e) => {
        sock.destroy();
        rejectDone(e);
      },
    );
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const port = (server.address() as net.AddressInfo).port;
  return { port, done, stop: () => server.close() };
}

/** Runs the double against a scripted server; returns the run once both ends are done. */
async function session(script: (c: Conn) => Promise<void>, opts: Partial<AgiClientOptions> = {}) {
  const srv = await fastAgi(script);
  try {
    const run = await runAgi({ port: srv.port, variables: VARS, maxWaitMs: 5000, ...opts });
    await srv.done;
    return run;
  } finally {
    srv.stop();
  }
}

test('sends the AGI environment of the message channel, then a blank line', async (t) => {
  let env: Array<[string, string]> = [];
  const run = await session(async (c) => {
    env = await c.env();
  });
  const keys = env.map(([k]) => k);
  t.deepEqual(keys, [
    'agi_network',
    'agi_network_script',
    'agi_request',
    'agi_channel',
    'agi_language',
    'agi_type',
    'agi_uniqueid',
    'agi_version',
    'agi_callerid',
    'agi_calleridname',
    'agi_callingpres',
    'agi_callingani2',
    'agi_callington',
    'agi_callingtns',
    'agi_dnid',
    'agi_rdnis',
    'agi_context',
    'agi_extension',
    'agi_priority',
    'agi_enhanced',
    'agi_accountcode',
    'agi_threadid',
  ]);
  const e = new Map(env);
  t.is(e.get('agi_network'), 'yes');
  t.is(e.get('agi_network_script'), 'outbound');
  t.regex(e.get('agi_request')!, /^agi:\/\/127\.0\.0\.1:\d+\/outbound$/);
  t.is(e.get('agi_channel'), 'Message/ast_msg_queue');
  t.is(e.get('agi_type'), 'Message');
  t.is(e.get('agi_uniqueid'), '1700000000.0');
  t.is(e.get('agi_version'), '22.10.1');
  t.is(e.get('agi_callerid'), 'alice');
  t.is(e.get('agi_context'), 'sub_text_trunk');
  t.is(e.get('agi_extension'), '+46701234567');
  t.is(e.get('agi_accountcode'), '');
  t.true(run.env.endsWith('\n\n'));
  t.is(run.status, 'SUCCESS');
  t.false(run.gaveUp);
  // The same uniqueid every time, and EXTEN as given.
  const again = await session(
    async (c) => {
      const e2 = new Map(await c.env());
      t.is(e2.get('agi_uniqueid'), '1700000000.0');
      t.is(e2.get('agi_extension'), '0701234567');
    },
    { exten: '0701234567' },
  );
  t.is(again.exten, '0701234567');
});

test('GET VARIABLE: set, unset, function, no substitution', async (t) => {
  const answers: string[][] = [];
  await session(async (c) => {
    await c.env();
    answers.push(await c.cmd('GET VARIABLE WEBSMS_INDEX'));
    answers.push(await c.cmd('GET VARIABLE NOT_SET'));
    answers.push(await c.cmd('GET VARIABLE MESSAGE(from)'));
    answers.push(await c.cmd('GET VARIABLE ${WEBSMS_INDEX}'));
    answers.push(await c.cmd('GET VARIABLE EXTEN'));
    answers.push(await c.cmd('get variable WEBSMS_INDEX')); // command words are case-insensitive
    answers.push(await c.cmd('GET VARIABLE websms_index')); // variable names are not
    answers.push(await c.cmd('GET VARIABLE WEBSMS_INDEX\r')); // a CRLF line end: the name ends in \r
  });
  t.deepEqual(answers, [
    ['200 result=1 (1)'],
    ['200 result=0'],
    ['200 result=1 (<sip:alice@192.0.2.1>)'],
    ['200 result=0'],
    ['200 result=1 (+46701234567)'],
    ['200 result=1 (1)'],
    ['200 result=0'],
    ['200 result=0'],
  ]);
});

test('GET FULL VARIABLE writes a multi-line value across lines; unset is ()', async (t) => {
  const got: string[][] = [];
  await session(async (c) => {
    await c.env();
    got.push(await c.cmd('GET FULL VARIABLE ${MESSAGE(body)}', 2));
    got.push(await c.cmd('GET FULL VARIABLE ${NOT_SET}'));
    got.push(await c.cmd('GET FULL VARIABLE "${MESSAGE(to)} / ${EXTEN}"'));
    got.push(await c.cmd('GET FULL VARIABLE ${WEBSMS_INDEX} SIP/other-0001')); // another channel: not found
  });
  t.deepEqual(got, [
    ['200 result=1 (Hi :) see you at 10:30', 'line 2)'],
    ['200 result=1 ()'],
    ['200 result=1 (pjsip:+46701234567@pbx.example / +46701234567)'],
    ['200 result=0'],
  ]);
});

test('GET FULL VARIABLE substitutes inside a function argument before parsing it', async (t) => {
  const ask = (body: string) =>
    session(
      async (c) => {
        await c.env();
        answers.push((await c.cmd('GET FULL VARIABLE ${BASE64_ENCODE(${MESSAGE(body)})}'))[0]);
        answers.push((await c.cmd('GET FULL VARIABLE ${URIENCODE(${MESSAGE(body)})}'))[0]);
      },
      { variables: { ...VARS, 'MESSAGE(body)': body } },
    );
  let answers: string[] = [];
  await ask('Hi :) see you at 10:30');
  // BASE64_ENCODE(Hi :) see you at 10:30) -> the ':' after ')' is at depth 0:
  // name `BASE64_ENCODE(Hi :) see you at 10`, offset 30, argument `Hi :`.
  t.not(answers[0], `200 result=1 (${Buffer.from('Hi :) see you at 10:30').toString('base64')})`);
  t.deepEqual(answers, ['200 result=1 ()', '200 result=1 ()']);

  answers = [];
  await ask('plain text');
  t.deepEqual(answers, [`200 result=1 (${Buffer.from('plain text').toString('base64')})`, '200 result=1 (plain%20text)']);

  // The same mechanism, offline: garbage rather than nothing.
  // `BASE64_ENCODE(a) b:1:2)`: name `BASE64_ENCODE(a) b`, argument `a`, then offset 1 length 2 of `YQ==`.
  t.is(evaluateExpression('${BASE64_ENCODE(${X})}', { X: 'a) b:1:2' }).value, 'Q=');
  t.is(evaluateExpression('${X:1:3}', { X: 'abcdef' }).value, 'bcd');
  t.is(evaluateExpression('${X:-2}', { X: 'abcdef' }).value, 'ef');
  const unknown = evaluateExpression('[${NOPE(x)}]');
  t.is(unknown.value, '[]');
  t.true(unknown.warnings.includes('Function NOPE not registered'));
});

test('FIELDQTY takes a variable name; \\\\n on the wire counts lines', async (t) => {
  const count = async (body: string, cmds: string[]): Promise<string[]> => {
    const out: string[] = [];
    await session(
      async (c) => {
        await c.env();
        for (const cmd of cmds) out.push((await c.cmd(cmd))[0]);
      },
      { variables: { ...VARS, 'MESSAGE(body)': body } },
    );
    return out;
  };
  // The wire carries two backslashes; parse_args leaves `\n`; FIELDQTY's last
  // argument is not unescaped, and ast_get_encoded_char makes it a newline.
  const wire = 'GET FULL VARIABLE ${FIELDQTY(MESSAGE(body),\\\\n)}';
  t.deepEqual(await count('one\ntwo\nthree', [wire]), ['200 result=1 (3)']);
  t.deepEqual(await count(BODY, [wire]), ['200 result=1 (2)']);
  t.deepEqual(await count('abc', [wire]), ['200 result=1 (1)']);
  t.deepEqual(await count('', [wire]), ['200 result=1 (0)']);
  t.deepEqual(await count('a:b)c:d\n)', [wire]), ['200 result=1 (2)']); // the value is never parsed
  // One backslash on the wire: parse_args eats it, the delimiter is the letter n.
  t.deepEqual(await count('one\ntwo\nthree', ['GET FULL VARIABLE ${FIELDQTY(MESSAGE(body),\\n)}']), ['200 result=1 (2)']);
  // CUT's delimiter is not its last argument: AST_STANDARD_APP_ARGS removes one more level (four on the wire).
  t.deepEqual(await count('one\ntwo\nthree', ['GET FULL VARIABLE ${CUT(MESSAGE(body),\\\\\\\\n,2)}', 'GET FULL VARIABLE ${CUT(MESSAGE(body),\\\\n,1)}']), [
    '200 result=1 (two)',
    '200 result=1 (o)', // delimiter 'n': "o" | "e\ntwo\nthree"
  ]);
});

test('parse_args removes one level of backslashes and honours quotes', async (t) => {
  const run = await session(async (c) => {
    await c.env();
    t.deepEqual(await c.cmd('SET VARIABLE X "a\\\\b"'), ['200 result=1']);
    t.deepEqual(await c.cmd('SET VARIABLE Y "say \\"hi\\""'), ['200 result=1']);
    t.deepEqual(await c.cmd('SET VARIABLE Z "two words"'), ['200 result=1']);
    t.deepEqual(await c.cmd('SET VARIABLE E ""'), ['200 result=1']);
    t.deepEqual(await c.cmd('SET VARIABLE WEBSMS_STATUS QUEUED'), ['200 result=1']);
    t.deepEqual(await c.cmd('SET VARIABLE _INH \\q\\\\x'), ['200 result=1']);
    t.deepEqual(await c.cmd('SET VARIABLE UTF "räksmörgås ✓"'), ['200 result=1']);
    t.deepEqual(await c.cmd('GET VARIABLE X'), ['200 result=1 (a\\b)']);
    t.deepEqual(await c.cmd('GET VARIABLE E'), ['200 result=1 ()']);
    t.deepEqual(await c.cmd('SET VARIABLE X last'), ['200 result=1']);
  });
  t.is(run.set.get('X'), 'last');
  t.is(run.set.get('Y'), 'say "hi"');
  t.is(run.set.get('Z'), 'two words');
  t.is(run.set.get('E'), '');
  t.is(run.set.get('INH'), 'q\\x');
  t.is(run.set.get('UTF'), 'räksmörgås ✓');
  t.deepEqual(run.setOrder.map(([k]) => k), ['X', 'Y', 'Z', 'E', 'WEBSMS_STATUS', 'INH', 'UTF', 'X']);
  t.is(run.setOrder[0][1], 'a\\b');
  t.deepEqual(parseAgiArgs('GET  FULL\tVARIABLE "${A} ${B}" x\\ y'), ['GET', 'FULL', 'VARIABLE', '${A} ${B}', 'x y']);
});

test('510 for an unknown command, 520 with usage for a wrong one', async (t) => {
  const run = await session(async (c) => {
    await c.env();
    t.deepEqual(await c.cmd('FOO BAR'), ['510 Invalid or unknown command']);
    t.deepEqual(await c.cmd(''), ['510 Invalid or unknown command']);
    const usage = await c.cmd('SET VARIABLE X', 3);
    t.deepEqual(usage, ['520-Invalid command syntax.  Proper usage follows:', 'Sets a variable to the current channel.', '520 End of proper usage.']);
    // An unquoted value with a space is one argument too many.
    t.is((await c.cmd('SET VARIABLE X two words', 3))[2], '520 End of proper usage.');
    const full = await c.cmd('GET FULL VARIABLE', 4);
    t.is(full[0], '520-Invalid command syntax.  Proper usage follows:');
    t.is(full[2], 'Example return code: 200 result=1 (testvariable)'); // inside the usage text, not an answer
    t.is(full[3], '520 End of proper usage.');
    t.deepEqual(await c.cmd('VERBOSE "hello there" 1'), ['200 result=1']);
    t.deepEqual(await c.cmd('NOOP anything'), ['200 result=0']);
  });
  t.false(run.set.has('X'));
  t.deepEqual(run.verbose, ['hello there']);
});

test('HANGUP: 200 result=1, then HANGUP to the server; the dialplan stops', async (t) => {
  let tail: Array<string | null> = [];
  const run = await session(async (c) => {
    await c.env();
    t.deepEqual(await c.cmd('SET VARIABLE WEBSMS_STATUS FAILED'), ['200 result=1']);
    t.deepEqual(await c.cmd('HANGUP', 2), ['200 result=1', 'HANGUP']);
    // The AGI goes on "dead": variables still work, HANGUP no longer does.
    t.deepEqual(await c.cmd('GET VARIABLE WEBSMS_STATUS'), ['200 result=1 (FAILED)']);
    t.deepEqual(await c.cmd('HANGUP'), ['511 Command Not Permitted on a dead channel or intercept routine']);
    c.end();
    tail = [await c.line(), await c.line()];
  });
  t.deepEqual(tail, ['HANGUP', null]); // the end-of-session notice, then the close
  t.is(run.status, 'HANGUP');
  t.true(run.hungUp);
  t.is(run.variables.get('AGISTATUS'), 'HANGUP');
  const trunk = await simulateTextTrunkAgainst(async (c) => {
    await c.env();
    await c.cmd('HANGUP', 2);
  });
  t.is(trunk.notice, undefined); // nothing after AGI() runs
});

test('connection refused: AGISTATUS=FAILURE at once', async (t) => {
  const srv = net.createServer();
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((res) => srv.close(() => res()));
  const started = Date.now();
  const run = await runAgi({ port, variables: VARS });
  t.true(Date.now() - started < 500, `took ${Date.now() - started} ms`);
  t.is(run.status, 'FAILURE');
  t.deepEqual(run.commands, []);
  t.is(run.heldMs, 0);
  const trunk = await simulateTextTrunk({ port, variables: VARS });
  t.is(trunk.notice, 'Your message to +46701234567 was not sent: the SMS gateway is not reachable');
});

test('a server that never answers holds the channel until it closes: SUCCESS', async (t) => {
  let after: string | null = '';
  const run = await session(async (c) => {
    await c.env();
    await new Promise((res) => setTimeout(res, 300));
    c.end();
    after = await c.line();
  });
  t.is(run.status, 'SUCCESS');
  t.true(run.heldMs >= 280, `held ${run.heldMs} ms`);
  t.false(run.gaveUp);
  t.is(after, 'HANGUP');
  t.deepEqual(run.responses, ['HANGUP']);
});

test('maxWaitMs gives up on a server that never closes (test safety only)', async (t) => {
  const srv = net.createServer(() => undefined);
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
  const run = await runAgi({ port: (srv.address() as net.AddressInfo).port, variables: VARS, maxWaitMs: 200 });
  srv.close();
  t.true(run.gaveUp);
  t.true(run.heldMs >= 150);
});

test('pipelined commands wait in the stdio buffer until more bytes come', async (t) => {
  const run = await session(async (c) => {
    await c.env();
    c.write('NOOP\nGET VARIABLE WEBSMS_INDEX\n');
    t.is(await c.line(), '200 result=0');
    await t.throwsAsync(c.line(300), { message: /timeout/ }); // the second command is stuck
    c.write('VERBOSE "wake" 1\n'); // new bytes wake the poll: the buffered command, then the new one
    t.deepEqual([await c.line(), await c.line()], ['200 result=1 (1)', '200 result=1']);
    c.write('NOOP\nNOOP\n');
    t.is(await c.line(), '200 result=0');
    await t.throwsAsync(c.line(200), { message: /timeout/ });
    c.end(); // the close makes every buffered line readable
    t.deepEqual([await c.line(), await c.line(), await c.line()], ['200 result=0', 'HANGUP', null]);
  });
  t.deepEqual(run.commands, ['NOOP', 'GET VARIABLE WEBSMS_INDEX', 'VERBOSE "wake" 1', 'NOOP', 'NOOP']);
});

test('a command line over 2,047 bytes is read as two commands', async (t) => {
  const long = 'x'.repeat(3000);
  const run = await session(async (c) => {
    await c.env();
    // fgets keeps 2047 bytes: `SET VARIABLE L "xxx…` (quote never closed) sets a cut value.
    t.deepEqual(await c.cmd(`SET VARIABLE L "${long}"`), ['200 result=1']);
    // The rest of the line waits in the stdio buffer until new bytes arrive, then is a command of its own.
    c.write('NOOP\n');
    t.deepEqual([await c.line(), await c.line()], ['510 Invalid or unknown command', '200 result=0']);
  });
  t.is(run.set.get('L'), 'x'.repeat(2047 - 'SET VARIABLE L "'.length));
  t.is(run.commands[1], 'x'.repeat(3000 - (2047 - 'SET VARIABLE L "'.length)) + '"');
});

test('a line starting with "failure" ends the AGI with FAILURE', async (t) => {
  const run = await session(async (c) => {
    await c.env();
    c.write('FAILURE: cannot run\n');
    t.is(await c.line(), 'HANGUP');
    t.is(await c.line(), null);
  });
  t.is(run.status, 'FAILURE');
});

test('message limits: a body over 1,023 bytes arrives empty; GET VARIABLE cuts at 1,023', async (t) => {
  const run = await session(
    async (c) => {
      await c.env();
      t.deepEqual(await c.cmd('GET FULL VARIABLE ${MESSAGE(body)}'), ['200 result=1 ()']);
    },
    { variables: { ...VARS, 'MESSAGE(body)': 'y'.repeat(1024) } },
  );
  t.true(run.warnings.some((w) => w.includes('arrives in the dialplan empty')));
  await session(
    async (c) => {
      await c.env();
      t.deepEqual(await c.cmd('GET VARIABLE MESSAGE(body)'), [`200 result=1 (${'y'.repeat(1023)})`]);
      t.deepEqual(await c.cmd('GET FULL VARIABLE ${LEN(${BIG})}'), ['200 result=1 (5000)']);
      t.is((await c.cmd('GET FULL VARIABLE ${URIENCODE(${BIG})}'))[0].length, '200 result=1 ()'.length + 4095);
      t.is((await c.cmd('GET VARIABLE BIG'))[0].length, '200 result=1 ()'.length + 1023);
    },
    { variables: { ...VARS, 'MESSAGE(body)': 'y'.repeat(2000), BIG: 'z'.repeat(5000) }, phoneBodyLimit: Infinity },
  );
});

async function simulateTextTrunkAgainst(script: (c: Conn) => Promise<void>) {
  const srv = await fastAgi(script);
  try {
    const r = await simulateTextTrunk({ port: srv.port, variables: VARS, maxWaitMs: 5000 });
    await srv.done;
    return r;
  } finally {
    srv.stop();
  }
}

test('simulateTextTrunk: a notice unless WEBSMS_STATUS is QUEUED', async (t) => {
  const queued = await simulateTextTrunkAgainst(async (c) => {
    await c.env();
    await c.cmd('SET VARIABLE WEBSMS_STATUS QUEUED');
  });
  t.is(queued.notice, undefined);
  t.is(queued.run.status, 'SUCCESS');
  const failed = await simulateTextTrunkAgainst(async (c) => {
    await c.env();
    await c.cmd('SET VARIABLE WEBSMS_STATUS FAILED');
    await c.cmd('SET VARIABLE WEBSMS_REASON "unknown number"');
  });
  t.is(failed.notice, 'Your message to +46701234567 was not sent: unknown number');
  const silent = await simulateTextTrunkAgainst(async (c) => {
    await c.env();
  });
  t.is(silent.notice, 'Your message to +46701234567 was not sent: the SMS gateway is not reachable');
});
