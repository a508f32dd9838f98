// Texts as the stores take them, with every field set to something ordinary:
// a test names only the fields it is about.

import type { NewInbound } from '../../src/store/inbound.js';
import type { NewOutbound } from '../../src/store/outbound.js';

export const inMsg = (over: Partial<NewInbound> = {}): NewInbound => ({
  interface: 'default',
  providerId: undefined,
  sender: '+46701234567',
  recipient: '+46812345678',
  body: 'hello',
  parts: 1,
  ...over,
});

export const outMsg = (over: Partial<NewOutbound> = {}): NewOutbound => ({
  interface: 'itsp',
  sender: '+46812345678',
  recipient: '+12025550160',
  body: 'hi there',
  encoding: 'GSM-7',
  segments: 1,
  ...over,
});
