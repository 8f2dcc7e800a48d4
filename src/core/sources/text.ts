import { SourceError } from './errors';

/**
 * Decodes a .txt/.md file as UTF-8 (a UTF-8 BOM is dropped, CRLF becomes LF). Anything else is
 * refused with a message that names the likely encoding, rather than read as mojibake.
 */
export function decodeUtf8Text(bytes: Uint8Array, file: string): string {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    const guess = guessEncoding(bytes);
    const offset = firstInvalidUtf8(bytes);
    throw new SourceError(
      'encoding',
      `${file} is not UTF-8 text (invalid byte 0x${bytes[offset]?.toString(16).padStart(2, '0') ?? '??'} at offset ${offset})${guess ? `; it looks like ${guess.name}` : ''}.`,
      `Convert it to UTF-8 and add it again, e.g. \`iconv -f ${guess?.iconv ?? 'ENCODING'} -t UTF-8 "${baseName(file)}" > converted.txt\`.`,
      file,
    );
  }
  return normalizeNewlines(text);
}

export function normalizeNewlines(text: string): string {
  return text.replace(/\r\n?/g, '\n');
}

function baseName(file: string): string {
  return file.split(/[\\/]/).pop() ?? file;
}

/** A best guess of a non-UTF-8 file's encoding, for the error message only. */
export function guessEncoding(bytes: Uint8Array): { name: string; iconv: string } | undefined {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return { name: 'UTF-16 (little-endian, with a BOM)', iconv: 'UTF-16' };
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return { name: 'UTF-16 (big-endian, with a BOM)', iconv: 'UTF-16' };
  // Many NUL bytes in the first KiB: UTF-16 without a BOM.
  const head = bytes.subarray(0, 1024);
  let nul = 0;
  for (const b of head) if (b === 0) nul++;
  if (head.length && nul / head.length > 0.2) return { name: 'UTF-16 (no BOM)', iconv: 'UTF-16LE' };
  // Bytes 0x80-0x9f are control characters in Latin-1 but letters and punctuation in Windows-1252.
  let c1 = 0;
  let high = 0;
  for (const b of bytes) {
    if (b >= 0x80) high++;
    if (b >= 0x80 && b <= 0x9f) c1++;
  }
  if (!high) return undefined;
  return c1 ? { name: 'Windows-1252', iconv: 'WINDOWS-1252' } : { name: 'Latin-1 (ISO-8859-1)', iconv: 'LATIN1' };
}

function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    const len = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    if (!len) return i;
    for (let k = 1; k < len; k++) if (i + k >= bytes.length || (bytes[i + k] & 0xc0) !== 0x80) return i;
    i += len;
  }
  return Math.max(0, bytes.length - 1);
}
