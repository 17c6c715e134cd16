/**
 * What no store or host lookup holds faithfully: NUL (PostgreSQL refuses it in text, C-string code
 * truncates at it), other C0/C1 control characters and DEL (invisible in logs, refused or stripped
 * by drivers), and UTF-16 surrogates that are not part of a pair (they have no UTF-8 form). Client
 * input with any of these is refused with a 400 naming the field before it reaches a store or a host
 * callback: the engine checks user ids, the HTTP body schemas every string field.
 */

/** What is wrong with a string, as the body schemas name it in their issues. */
export type UnstorableKind = 'control-characters' | 'nul' | 'lone-surrogates';

/**
 * The first problem with `text`, or null when it is fit to store.
 * - `identifier` (ids, usernames, emails, tokens): C0 controls, DEL, C1 controls, lone surrogates.
 * - `password`: only NUL and lone surrogates (see the body schemas for why).
 */
export function unstorableReason(
  text: string,
  rule: 'identifier' | 'password' = 'identifier',
): UnstorableKind | null {
  for (let index = 0; index < text.length; index++) {
    const unit = text.charCodeAt(index);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = text.charCodeAt(index + 1); // NaN past the end
      if (!(next >= 0xdc00 && next <= 0xdfff)) return 'lone-surrogates';
      index++; // a valid pair: one astral character (an emoji, say)
      continue;
    }
    if (unit >= 0xdc00 && unit <= 0xdfff) return 'lone-surrogates';
    if (unit === 0) return rule === 'password' ? 'nul' : 'control-characters';
    if (rule === 'identifier' && (unit < 0x20 || (unit >= 0x7f && unit <= 0x9f))) return 'control-characters';
  }
  return null;
}
