// The AMI double as its own process, so that the inbound benchmark measures
// websms, not the double (which answers every Originate and reports what
// PrivateDial's text context would: DELIVERED to a number whose endpoint has
// a contact, NO_CONTACTS to one whose endpoint has none).
//
//   node ami-process.js SECRET NUMBER=ENDPOINT[=CONTACT] ...
import { startAmiDouble } from '../test/doubles/ami-server.js';

const [secret = 'bench', ...numbers] = process.argv.slice(2);
const ami = await startAmiDouble({ secret });
for (const spec of numbers) {
  const [number, endpoint, contact] = spec.split('=');
  ami.addEndpoint(number!, endpoint!, contact ? [contact] : []);
}
// Keep memory flat over long runs: the bench does not read the recordings.
setInterval(() => {
  for (const list of [ami.originates, ami.deliveries, ami.events, ami.actions] as unknown[][]) list.length = 0;
}, 1000).unref();
process.stdout.write(`${JSON.stringify({ port: ami.port })}\n`);
process.on('SIGTERM', () => {
  void ami.stop().then(() => process.exit(0));
});
