/** FNV-1a (32 bits) of a string's UTF-16 code units: the same on every replica, a few ns a character. */
export function fingerprint(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
