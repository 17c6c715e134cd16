/**
 * What no store holds faithfully: NUL (PostgreSQL refuses it in text), other C0/C1 control
 * characters and DEL (invisible in logs, often refused or stripped by drivers), and UTF-16
 * surrogates that are not part of a pair (they do not survive UTF-8). Client input with any of these
 * is refused with a 400 naming the field before it reaches a store or a host callback.
 */

/** The first problem with `text`, or null when it is fit to store. `controls: false` only refuses NUL. */
export function unstorableReason(
  text: string,
  options: { controls: boolean } = { controls: true },
): 'control characters' | 'lone surrogates' | null {
  for (let index = 0; index < text.length; index++) {
    const unit = text.charCodeAt(index);
    if (unit === 0 || (options.controls && (unit < 0x20 || (unit >= 0x7f && unit <= 0x9f)))) {
      return 'control characters';
    }
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = text.charCodeAt(index + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return 'lone surrogates';
      index++;
    } else if (unit >= 0xdc00 && unit <= 0xdfff) {
      return 'lone surrogates';
    }
  }
  return null;
}
