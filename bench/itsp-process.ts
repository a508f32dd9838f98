// The mock ITSP as its own process, so the bench measures websms, not the mock.
import { startItspDouble } from '../test/doubles/itsp-server.js';

let n = 0;
const itsp = await startItspDouble({
  default: () => ({ status: 201, body: { sid: `SM${(++n).toString(16).padStart(32, '0')}`, status: 'queued' } }),
});
// Keep memory flat over long runs: the bench does not read the recordings.
setInterval(() => itsp.clearRequests(), 1000).unref();
process.stdout.write(`${JSON.stringify({ port: itsp.port })}\n`);
process.on('SIGTERM', () => {
  void itsp.stop().then(() => process.exit(0));
});
