/**
 * QR codes for enrollment, rendered locally (the secret never leaves the server to draw a picture).
 * uqr (a port of Project Nayuki's QR Code generator) encodes the symbol through its public `encode`;
 * the SVG below is drawn from that matrix, and the CLI's terminal text from the same encoder with the
 * same options ({@link QR_OPTIONS}).
 */
import { encode } from 'uqr';

/** QR quiet zone in modules (the spec asks for 4). */
export const QR_QUIET_ZONE = 4;
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

/** How every twofold QR code is encoded: error correction level M, uqr's automatic mask. */
export const QR_OPTIONS = { ecc: 'M', boostEcc: false } as const;

/** A QR symbol: `modules[row][column]`, row 0 at the top, `true` for a dark module. Square. */
export type QrModules = readonly (readonly boolean[])[];

/**
 * The QR symbol of `text` (an otpauth:// URI), error correction level M, without the quiet zone.
 *
 * Only printable ASCII is accepted: otpauth URIs are percent-encoded, and a scanner app is not
 * expected to agree with an encoder on how other text becomes bytes.
 * @throws {TypeError} `text` is empty, not a string, or not printable ASCII.
 * @throws {RangeError} `text` is too long for a QR code (more than 2331 bytes at level M).
 * @example qrModules('otpauth://totp/Acme:alice?secret=JBSWY3DPEHPK3PXP&issuer=Acme').length // 29
 */
export function qrModules(text: string): QrModules {
  if (typeof text !== 'string' || !PRINTABLE_ASCII.test(text)) {
    throw new TypeError('QR code text must be a non-empty string of printable ASCII');
  }
  try {
    return encode(text, { ...QR_OPTIONS, border: 0 }).data;
  } catch {
    // The library's message carries only lengths; ours does not repeat the text (it holds a secret).
    throw new RangeError('the text is too long for a QR code');
  }
}

/**
 * Renders `text` (an otpauth:// URI) as a standalone SVG QR code: the symbol of {@link qrModules}
 * with a 4-module quiet zone, black modules on white, one joined path, and a `viewBox` of one unit
 * per module so it scales to any size (set width/height in CSS) and every coordinate is an integer.
 * @throws {TypeError} `text` is empty, not a string, or not printable ASCII.
 * @throws {RangeError} `text` is too long for a QR code.
 * @example renderQrSvg('otpauth://totp/Acme:alice?secret=JBSWY3DPEHPK3PXP&issuer=Acme')
 */
export function renderQrSvg(text: string): string {
  const modules = qrModules(text);
  const size = modules.length + 2 * QR_QUIET_ZONE;
  let path = '';
  for (const [row, columns] of modules.entries()) {
    const y = row + QR_QUIET_ZONE;
    for (const [column, dark] of columns.entries()) {
      const x = column + QR_QUIET_ZONE;
      if (dark) path += `M${x},${y} V${y + 1} H${x + 1} V${y} H${x} Z `;
    }
  }
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" viewBox="0 0 ${size} ${size}">` +
    `<rect x="0" y="0" width="${size}" height="${size}" style="fill:#ffffff;shape-rendering:crispEdges;"/>` +
    `<path x="0" y="0" style="fill:#000000;shape-rendering:crispEdges;" d="${path}" /></svg>`
  );
}

/**
 * Wraps an SVG document as a `data:image/svg+xml;base64,...` URI, usable directly as an `<img src>`.
 * @example svgDataUri(renderQrSvg(uri))
 */
export function svgDataUri(svg: string): string {
  if (typeof svg !== 'string' || svg === '')
    throw new TypeError('svgDataUri: svg must be a non-empty string');
  return `data:image/svg+xml;base64,${Buffer.from(svg, 'utf8').toString('base64')}`;
}
