/**
 * QR codes as terminal text. The symbol is @twofold/core's `qrModules`, the one the enrollment
 * page's SVG is drawn from, so `uri --qr` shows the code the enrollment page would. Each line of
 * text holds two rows of modules, drawn with Unicode half blocks.
 */
import { QR_QUIET_ZONE, type QrModules, qrModules } from '@twofold/core';
import { UsageError } from './errors.js';

/**
 * The QR symbol of `text` as rows of modules, true for dark, with the quiet zone.
 * @throws {UsageError} `text` is not printable ASCII (otpauth URIs are percent-encoded) or too long.
 */
export function qrMatrix(text: string): boolean[][] {
  let modules: QrModules;
  try {
    modules = qrModules(text);
  } catch (error) {
    if (error instanceof TypeError) throw new UsageError('a QR code needs printable ASCII text');
    if (error instanceof RangeError) throw new UsageError('the text is too long for a QR code');
    throw error;
  }
  const size = modules.length + 2 * QR_QUIET_ZONE;
  return Array.from({ length: size }, (_, row) =>
    Array.from(
      { length: size },
      (_, column) => modules[row - QR_QUIET_ZONE]?.[column - QR_QUIET_ZONE] === true,
    ),
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
