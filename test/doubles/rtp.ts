// Audio for the call double (sip-call.ts): G.711 over RTP on a loopback UDP
// port. It sends a sine tone in 20 ms packets (160 samples, as a phone does
// with ptime 20), and keeps every sample it receives, decoded, so a test can
// tell a tone from silence and one tone from another.

import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';

export const SAMPLE_RATE = 8000;
const PACKET_SAMPLES = 160; // 20 ms
export const PT_PCMU = 0;
export const PT_PCMA = 8;

/** ITU-T G.711 mu-law: one 16-bit linear sample to one byte. */
export function ulawEncode(sample: number): number {
  const BIAS = 0x84;
  let s = Math.max(-32635, Math.min(32635, Math.round(sample)));
  const sign = s < 0 ? 0x80 : 0;
  if (s < 0) s = -s;
  s += BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

export function ulawDecode(byte: number): number {
  const u = ~byte & 0xff;
  const exponent = (u >> 4) & 0x07;
  const magnitude = ((((u & 0x0f) << 3) + 0x84) << exponent) - 0x84;
  return u & 0x80 ? -magnitude : magnitude;
}

export function alawDecode(byte: number): number {
  const a = byte ^ 0x55;
  const exponent = (a >> 4) & 0x07;
  let magnitude = (a & 0x0f) << 4;
  magnitude = exponent === 0 ? magnitude + 8 : (magnitude + 0x108) << (exponent - 1);
  return a & 0x80 ? magnitude : -magnitude;
}

/** Root mean square of 16-bit samples: about 0 for silence, amplitude/sqrt(2) for a sine. */
export function rms(samples: ArrayLike<number>): number {
  if (samples.length === 0) return 0;
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i]! * samples[i]!;
  return Math.sqrt(sum / samples.length);
}

/** The frequency of a pure tone, from its zero crossings (two per period). */
export function toneHz(samples: ArrayLike<number>): number {
  let crossings = 0;
  for (let i = 1; i < samples.length; i++) if (samples[i - 1]! < 0 !== samples[i]! < 0) crossings++;
  return samples.length === 0 ? 0 : (crossings / 2) * (SAMPLE_RATE / samples.length);
}

export interface RtpSession {
  readonly port: number;
  /** Every sample received, decoded (PCMU or PCMA), in arrival order. */
  readonly samples: number[];
  /** RTP packets received (telephone-event and others included). */
  readonly packets: number;
  /** Starts sending the tone to where the other side's SDP said. */
  sendTo(host: string, port: number): void;
  close(): Promise<void>;
}

/** A tone of `hz` at about -10 dBFS, or silence for 0. */
export async function startRtp(hz: number): Promise<RtpSession> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const samples: number[] = [];
  let packets = 0;
  socket.on('message', (packet) => {
    if (packet.length < 12 || packet[0]! >> 6 !== 2) return;
    packets++;
    const pt = packet[1]! & 0x7f;
    const csrc = packet[0]! & 0x0f;
    const payload = packet.subarray(12 + csrc * 4);
    if (pt === PT_PCMU) for (const b of payload) samples.push(ulawDecode(b));
    else if (pt === PT_PCMA) for (const b of payload) samples.push(alawDecode(b));
  });

  const ssrc = randomBytes(4).readUInt32BE(0);
  let seq = randomBytes(2).readUInt16BE(0);
  let timestamp = randomBytes(4).readUInt32BE(0);
  let phase = 0;
  let timer: NodeJS.Timeout | undefined;
  const packet = (): Buffer => {
    const b = Buffer.alloc(12 + PACKET_SAMPLES);
    b[0] = 0x80;
    b[1] = PT_PCMU;
    b.writeUInt16BE(seq, 2);
    b.writeUInt32BE(timestamp >>> 0, 4);
    b.writeUInt32BE(ssrc, 8);
    for (let i = 0; i < PACKET_SAMPLES; i++) {
      b[12 + i] = ulawEncode(hz === 0 ? 0 : 10_000 * Math.sin(phase));
      phase += (2 * Math.PI * hz) / SAMPLE_RATE;
    }
    seq = (seq + 1) & 0xffff;
    timestamp = (timestamp + PACKET_SAMPLES) >>> 0;
    return b;
  };

  return {
    port: socket.address().port,
    samples,
    get packets() {
      return packets;
    },
    sendTo(host, port) {
      if (timer) clearInterval(timer);
      timer = setInterval(() => socket.send(packet(), port, host), 20);
    },
    close() {
      if (timer) clearInterval(timer);
      return new Promise((resolve) => socket.close(() => resolve()));
    },
  };
}
