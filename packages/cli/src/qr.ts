/**
 * QR codes as terminal text. The symbol comes from qrcode-svg, the encoder @twofold/core draws its
 * SVG QR codes with (same error correction level, M), so `uri --qr` shows the code the enrollment
 * page would. Each line of text holds two rows of modules, drawn with Unicode half blocks.
 */
import QRCode from 'qrcode-svg';
import { UsageError } from './errors.js';

/** Light modules around the symbol, as the QR specification asks. */
export const QUIET_ZONE = 4;

const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

/**
 * The QR symbol of `text` as rows of modules, true for dark, with the quiet zone. qrcode-svg's
 * model is `modules[row][column]`.
 * @throws {UsageError} `text` is not printable ASCII (otpauth URIs are percent-encoded) or too long.
 */
export function qrMatrix(text: string): boolean[][] {
  if (!PRINTABLE_ASCII.test(text)) throw new UsageError('a QR code needs printable ASCII text');
  let modules: boolean[][];
  try {
    modules = new QRCode({ content: text, ecl: 'M' }).qrcode.modules;
  } catch {
    throw new UsageError('the text is too long for a QR code');
  }
  const size = modules.length + 2 * QUIET_ZONE;
  return Array.from({ length: size }, (_, row) =>
    Array.from({ length: size }, (_, column) => modules[row - QUIET_ZONE]?.[column - QUIET_ZONE] === true),
  );
}

/** How to draw: see {@link renderQrText}. */
export interface QrTextOptions {
  /** Paint black on white with ANSI colours, right on any terminal theme. */
  color: boolean;
  /** Without colour: draw the dark modules instead of the light ones (for light backgrounds). */
  invert: boolean;
}

const BLOCKS = [' ', '▄', '▀', '█'] as const; // index: (top drawn ? 2 : 0) + (bottom drawn ? 1 : 0)
const BLACK_ON_WHITE = '\x1b[38;5;16;48;5;231m';
const RESET = '\x1b[0m';

/**
 * Renders a matrix from {@link qrMatrix} as lines of half blocks. Without colour the light modules
 * are drawn, in the terminal's (usually light) text colour on its (usually dark) background; `invert`
 * draws the dark ones instead. With colour the dark modules are drawn black on a white background.
 * A last odd row is paired with a light one.
 */
export function renderQrText(matrix: readonly (readonly boolean[])[], options: QrTextOptions): string {
  const drawDark = options.color || options.invert;
  const drawn = (row: number, column: number) => {
    const dark = matrix[row]?.[column] ?? false;
    return drawDark ? dark : !dark;
  };
  const lines: string[] = [];
  for (let row = 0; row < matrix.length; row += 2) {
    let line = '';
    for (let column = 0; column < matrix.length; column++) {
      line += BLOCKS[(drawn(row, column) ? 2 : 0) + (drawn(row + 1, column) ? 1 : 0)];
    }
    lines.push(options.color ? `${BLACK_ON_WHITE}${line}${RESET}` : line);
  }
  return `${lines.join('\n')}\n`;
}
