// A real PNG picture made in memory (zlib only), so that a browser test can
// see a picture of an MMS actually decode and show.

import zlib from 'node:zlib';

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** An RGB PNG whose pixel (x, y) is `color(x, y)` as [r, g, b]. */
export function pngBytes(width: number, height: number, color: (x: number, y: number) => [number, number, number]): Buffer {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    raw[row] = 0; // filter: none
    for (let x = 0; x < width; x++) {
      const [r, g, b] = color(x, y);
      raw[row + 1 + x * 3] = r;
      raw[row + 2 + x * 3] = g;
      raw[row + 3 + x * 3] = b;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** A little landscape: sky, sun, hills, sea. */
export function landscapePng(width = 480, height = 320): Buffer {
  return pngBytes(width, height, (x, y) => {
    const sun = (x - width * 0.7) ** 2 + (y - height * 0.32) ** 2 < (height * 0.12) ** 2;
    const hill = y > height * 0.55 + Math.sin(x / (width / 6)) * height * 0.06;
    const sea = y > height * 0.78;
    if (sea) return [30, 90 + Math.round((y / height) * 40), 150];
    if (hill) return [46, 110 + Math.round(Math.sin(x / 17) * 8), 60];
    if (sun) return [255, 200, 80];
    const t = y / height;
    return [Math.round(120 + 120 * t), Math.round(170 + 40 * t), 235];
  });
}
