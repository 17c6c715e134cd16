/**
 * QR codes for enrollment, rendered locally (the secret never leaves the server to draw a picture).
 * qrcode-svg encodes the symbol; `qrModules` is the one place that reads it, and every drawing (the
 * SVG below, the CLI's terminal text) starts from its matrix.
 */
import QRCode from 'qrcode-svg';

/** QR quiet zone in modules (the spec asks for 4). */
export const QR_QUIET_ZONE = 4;
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

/** A QR symbol: `modules[row][column]`, row 0 at the top, `true` for a dark module. Square. */
export type QrModules = readonly (readonly boolean[])[];

/**
 * The QR symbol of `text` (an otpauth:// URI), error correction level M, without the quiet zone.
 *
 * This is the only code that reads qrcode-svg's model (`qrcode.modules`, `modules[row][column]`):
 * the library's options API only draws SVG, and the model is documented just by its README's
 * "ASCII modules" example and by @types/qrcode-svg. test/qr.test.ts pins what is read here.
 *
 * Only printable ASCII is accepted: otpauth URIs are percent-encoded, and the library would prefix
 * other text with a byte-order mark that scanners pass on verbatim.
 * @throws {TypeError} `text` is empty, not a string, or not printable ASCII.
 * @throws {RangeError} `text` is too long for a QR code (more than 2331 bytes at level M).
 * @example qrModules('otpauth://totp/Acme:alice?secret=JBSWY3DPEHPK3PXP&issuer=Acme').length // 29
 */
export function qrModules(text: string): QrModules {
  if (typeof text !== 'string' || !PRINTABLE_ASCII.test(text)) {
    throw new TypeError('QR code text must be a non-empty string of printable ASCII');
  }
  let modules: boolean[][];
  try {
    modules = new QRCode({ content: text, ecl: 'M' }).qrcode.modules;
  } catch {
    // The library's message carries only lengths; ours does not repeat the text (it holds a secret).
    throw new RangeError('the text is too long for a QR code');
  }
  return modules.map((row) => row.map((dark) => dark === true));
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
