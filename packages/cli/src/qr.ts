/**
 * QR codes as terminal text, drawn by uqr's half-block renderer (two rows of modules per line) from
 * the encoder and options @twofold/core draws its SVG with, so `uri --qr` shows the code the
 * enrollment page would (test/uri.test.ts compares them module for module).
 */
import { QR_OPTIONS, QR_QUIET_ZONE, qrModules } from '@twofold/core';
import { renderUnicodeCompact } from 'uqr';
import { UsageError } from './errors.js';

/** How to draw: see {@link renderQrText}. */
export interface QrTextOptions {
  /** Paint black on white with ANSI colours, right on any terminal theme. */
  color: boolean;
  /** Without colour: draw the dark modules instead of the light ones (for light backgrounds). */
  invert: boolean;
}

const BLACK_ON_WHITE = '\x1b[38;5;16;48;5;231m';
const RESET = '\x1b[0m';

/**
 * Renders the QR symbol of `text`, with its quiet zone, as lines of half blocks. Without colour the
 * light modules are drawn, in the terminal's (usually light) text colour on its (usually dark)
 * background; `invert` draws the dark ones instead. With colour the dark modules are drawn black on
 * a white background.
 * @throws {UsageError} `text` is not printable ASCII (otpauth URIs are percent-encoded) or too long.
 */
export function renderQrText(text: string, options: QrTextOptions): string {
  try {
    qrModules(text); // core's checks and error classes
  } catch (error) {
    if (error instanceof TypeError) throw new UsageError('a QR code needs printable ASCII text');
    if (error instanceof RangeError) throw new UsageError('the text is too long for a QR code');
    throw error;
  }
  const drawDark = options.color || options.invert;
  const lines = renderUnicodeCompact(text, { ...QR_OPTIONS, border: QR_QUIET_ZONE, invert: drawDark }).split(
    '\n',
  );
  return `${lines.map((line) => (options.color ? `${BLACK_ON_WHITE}${line}${RESET}` : line)).join('\n')}\n`;
}
