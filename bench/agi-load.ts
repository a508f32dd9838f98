// A lean FastAGI client standing in for Asterisk under load: it sends the AGI
// environment and answers the hand-off's commands at once from canned values,
// so the benchmark measures websms and not a simulator. (The faithful
// simulator, with Asterisk's parsing quirks, is test/doubles/agi-client.ts;
// it is too heavy to drive 50 sessions at a time from one process.)
import net from 'node:net';

export interface Answer {
  status: string | undefined;
  /** Connect to the arrival of `SET VARIABLE WEBSMS_STATUS` (QUEUED): what the target times. */
  queuedMs: number;
  /** Connect to the close after the last answer: how long Asterisk's message queue was held. */
  ms: number;
}

const ENV = (exten: string): string =>
  [
    'agi_network: yes',
    'agi_network_script: outbound',
    'agi_request: agi://127.0.0.1/outbound',
    'agi_channel: Message/ast_msg_queue',
    'agi_type: Message',
    'agi_uniqueid: 1700000000.0',
    'agi_context: sub_text_trunk',
    `agi_extension: ${exten}`,
    'agi_priority: 2',
    '',
    '',
  ].join('\n');

/** One hand-off: a two-line body; resolves when websms closes the connection. */
export function handOff(port: number, exten: string, body: [string, string]): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let status: string | undefined;
    let queuedMs = NaN;
    let buf = '';
    const sock = net.connect(port, '127.0.0.1', () => sock.write(ENV(exten)));
    sock.setNoDelay(true);
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const cmd = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        sock.write(answer(cmd));
        const m = /^SET VARIABLE WEBSMS_STATUS "?([A-Z]+)/.exec(cmd);
        if (m) {
          status = m[1];
          queuedMs = performance.now() - started;
        }
      }
    });
    sock.on('error', reject);
    sock.on('close', () => resolve({ status, queuedMs, ms: performance.now() - started }));
  });

  // The hand-off's one question (handoff.ts HANDOFF_EXPRESSION) as Asterisk
  // would answer it: counts, then WEBSMS_INDEX (empty), MESSAGE(from),
  // MESSAGE(to) and a two-line body, which hold no '|' or newline of their own here.
  function answer(cmd: string): string {
    if (cmd.startsWith('SET VARIABLE')) return '200 result=1\n';
    if (cmd.startsWith('GET FULL VARIABLE') && cmd.includes('FIELDQTY')) {
      return `200 result=1 (2,0,1,1,0,1,1||<sip:+46812345678@pbx.example>|pjsip:${exten}@pbx.example|${body[0]}\n${body[1]})\n`;
    }
    return '510 Invalid or unknown command\n';
  }
}
