// Which media types websms fetches and serves, and what they are called on a
// phone. Only pictures, sound and video: a type a browser would run (HTML,
// SVG with its scripts, XML) is never served from websms's own origin,
// whatever the configuration says.

/** The default of [media] types: what MMS carries in practice. */
export const DEFAULT_MEDIA_TYPES = [
  'image/jpeg',
  'image/png',
  'image/gif',
  'image/webp',
  'image/heic',
  'image/heif',
  'image/bmp',
  'audio/amr',
  'audio/mpeg',
  'audio/mp4',
  'audio/aac',
  'audio/ogg',
  'audio/wav',
  'video/mp4',
  'video/3gpp',
  'video/quicktime',
  'video/webm',
] as const;

const EXTENSIONS: Record<string, string> = {
  'image/jpeg': 'jpg',
  'image/png': 'png',
  'image/gif': 'gif',
  'image/webp': 'webp',
  'image/heic': 'heic',
  'image/heif': 'heif',
  'image/bmp': 'bmp',
  'audio/amr': 'amr',
  'audio/mpeg': 'mp3',
  'audio/mp4': 'm4a',
  'audio/aac': 'aac',
  'audio/ogg': 'ogg',
  'audio/wav': 'wav',
  'video/mp4': 'mp4',
  'video/3gpp': '3gp',
  'video/quicktime': 'mov',
  'video/webm': 'webm',
};

/**
 * Why a media type may never be served, or undefined when it may: an
 * image/, audio/ or video/ type without XML, HTML or script in it.
 */
export function unservableReason(type: string): string | undefined {
  if (!/^(image|audio|video)\/[a-z0-9][a-z0-9.+-]{0,63}$/.test(type)) {
    return `"${type}" is not an image/, audio/ or video/ type (lower case, without parameters)`;
  }
  if (/svg|xml|html|script/.test(type)) return `"${type}" can carry scripts; it is never served`;
  return undefined;
}

/** The media type of a Content-Type value: lower case, parameters dropped; '' when there is none. */
export function mediaTypeOf(header: string | null | undefined): string {
  return (header ?? '').split(';')[0]!.trim().toLowerCase();
}

/** The file extension for a link, so that phones that look at the name show a picture; '' when none is known. */
export function extensionOf(type: string): string {
  return Object.hasOwn(EXTENSIONS, type) ? EXTENSIONS[type]! : '';
}

/** What the item is called in the text on the phone. */
export function labelOf(type: string | null | undefined): string {
  const top = (type ?? '').split('/')[0];
  if (top === 'image') return 'Picture';
  if (top === 'audio') return 'Audio';
  if (top === 'video') return 'Video';
  return 'Attachment';
}
