/**
 * QR codes for enrollment, rendered locally (the secret never leaves the server to draw a picture).
 */
import QRCode from 'qrcode-svg';

/** QR quiet zone in modules (the spec asks for 4). */
const QUIET_ZONE = 4;
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

/**
 * Renders `text` (an otpauth:// URI) as a standalone SVG QR code: error correction level M, a
 * 4-module quiet zone, black modules on white, one joined path, and a `viewBox` of one unit per
 * module so it scales to any size (set width/height in CSS).
 *
 * Only printable ASCII is accepted: otpauth URIs are percent-encoded, and the library would prefix
 * other text with a byte-order mark that scanners pass on verbatim.
 * @throws {TypeError} `text` is empty, not a string, or not printable ASCII.
 * @throws {RangeError} `text` is too long for a QR code.
 * @example renderQrSvg('otpauth://totp/Acme:alice?secret=JBSWY3DPEHPK3PXP&issuer=Acme')
 */
export function renderQrSvg(text: string): string {
  if (typeof text !== 'string' || !PRINTABLE_ASCII.test(text)) {
    throw new TypeError('renderQrSvg: text must be a non-empty string of printable ASCII');
  }
  let qr: QRCode;
  try {
    qr = new QRCode({
      content: text,
      ecl: 'M',
      padding: QUIET_ZONE,
      color: '#000000',
      background: '#ffffff',
      join: true,
      // qrcode-svg draws modules[x][y] at (x, y), which transposes the symbol; swap draws it upright.
      swap: true,
      container: 'svg-viewbox',
      xmlDeclaration: false,
      pretty: false,
    });
  } catch {
    // The library's message carries only lengths; ours does not repeat the text (it holds a secret).
    throw new RangeError('renderQrSvg: text is too long for a QR code');
  }
  // One viewBox unit per module keeps every coordinate an integer and the path short.
  const size = qr.qrcode.getModuleCount() + 2 * QUIET_ZONE;
  qr.options.width = size;
  qr.options.height = size;
  return qr.svg({ container: 'svg-viewbox' });
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
