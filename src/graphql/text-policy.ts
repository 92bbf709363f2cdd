/**
 * What text each input may hold: its longest length and its characters, by the name of the
 * argument or input field that carries it. An input not listed gets DEFAULT_TEXT (ID-typed ones
 * DEFAULT_ID), so an input added to the schema is bounded before anyone thinks to list it.
 * request-checks.ts applies the policy to every String and ID argument before any resolver runs;
 * the services still apply their own, narrower domain rules (formats, trimming, required).
 */

/** The kinds of text, from the strictest. */
export type TextKind = 'key' | 'identifier' | 'code' | 'name' | 'text' | 'url';

export interface TextPolicy {
  kind: TextKind;
  /** The most characters (Unicode code points) the text may hold. */
  max: number;
}

interface KindRule {
  max: number;
  /** The whole text, of the characters the kind allows. */
  allowed: RegExp;
  /** A text of spaces alone stands for nothing: refused, unless empty. */
  blankRefused: boolean;
  /** What the refusal says the text may hold. */
  allows: string;
}

// Letters, marks, digits, punctuation and symbols: what a person can see. Not controls, not
// format characters (zero-width spaces, joiners, bidi overrides and isolates, byte order marks),
// not separators, private-use or unassigned code points, and not U+FFFD, which is what a
// decoder leaves of bytes that were not text: two different such texts would read the same.
const VISIBLE = String.raw`[[\p{L}\p{M}\p{N}\p{P}\p{S}]--[\uFFFD]]`;
const JOINERS = String.raw`\u200C\u200D`;

const KINDS: Record<TextKind, KindRule> = {
  key: {
    max: 200, blankRefused: true, allowed: new RegExp(`^${VISIBLE}*$`, 'v'),
    allows: 'letters, digits, punctuation and symbols, with no spaces',
  },
  identifier: {
    max: 200, blankRefused: true, allowed: new RegExp(`^[${VISIBLE} ]*$`, 'v'),
    allows: 'letters, digits, punctuation, symbols and spaces',
  },
  code: {
    max: 64, blankRefused: true, allowed: /^[\x20-\x7E]*$/,
    allows: 'printable ASCII characters',
  },
  name: {
    max: 200, blankRefused: false, allowed: new RegExp(`^[${VISIBLE}\\p{Zs}${JOINERS}]*$`, 'v'),
    allows: 'letters, digits, punctuation, symbols and spaces, on one line',
  },
  text: {
    max: 2_000, blankRefused: false, allowed: new RegExp(`^[${VISIBLE}\\p{Zs}${JOINERS}\\t\\n\\r]*$`, 'v'),
    allows: 'letters, digits, punctuation, symbols, spaces and line breaks',
  },
  url: {
    max: 2_000, blankRefused: true, allowed: new RegExp(`^${VISIBLE}*$`, 'v'),
    allows: 'letters, digits, punctuation and symbols, with no spaces',
  },
};

const policy = (kind: TextKind, max = KINDS[kind].max): TextPolicy => ({ kind, max });

/**
 * The policy of each argument and input field, by name, wherever in the schema it appears.
 * Limits at least as long as the services' own, which refine them.
 */
export const TEXT_FIELDS: Readonly<Record<string, TextPolicy>> = {
  // Keys a caller chooses, compared byte for byte.
  idempotencyKey: policy('key'),
  after: policy('key', 500),
  // References to things in the caller's own systems (their services trim surrounding spaces).
  externalId: policy('identifier'),
  orderId: policy('identifier'),
  refundId: policy('identifier'),
  sku: policy('identifier'),
  partnerId: policy('identifier', 100),
  referralCode: policy('identifier', 64),
  email: policy('identifier', 254),
  // Codes and formatted values, in ASCII.
  code: policy('code'),
  tierCode: policy('code'),
  rewardCodes: policy('code'),
  currency: policy('code', 8),
  tags: policy('code'),
  events: policy('code'),
  type: policy('code'),
  trigger: policy('code'),
  timezone: policy('code'),
  locale: policy('code', 35),
  birthDate: policy('code', 16),
  phone: policy('code', 32),
  // Names and labels: one line.
  name: policy('name'),
  pointsName: policy('name', 50),
  perks: policy('name'),
  search: policy('name'),
  category: policy('name', 100),
  channel: policy('name', 100),
  // Free text: several lines.
  reason: policy('text', 500),
  description: policy('text'),
  comment: policy('text'),
  resolution: policy('text'),
  condition: policy('text'),
  itemCondition: policy('text'),
  url: policy('url'),
};

/** Any String input not listed: one screen of free text. */
export const DEFAULT_TEXT: TextPolicy = policy('text');
/** Any ID input not listed: a key (ids are uuids or codes, never prose). */
export const DEFAULT_ID: TextPolicy = policy('key');

/** The policy of the input named `field`, whose scalar is String or ID. */
export function textPolicyFor(field: string, scalar: 'String' | 'ID'): TextPolicy {
  return Object.hasOwn(TEXT_FIELDS, field) ? TEXT_FIELDS[field] as TextPolicy : scalar === 'ID' ? DEFAULT_ID : DEFAULT_TEXT;
}

/**
 * Why `text` breaks `policy`, or null when it keeps it. The answer never quotes the text: at
 * most it names a character by its code point and position.
 */
export function textProblem(policy: TextPolicy, text: string): string | null {
  const rule = KINDS[policy.kind];
  // Code points, counted only when UTF-16 units leave the answer open (each point is one or two).
  if (text.length > policy.max && (text.length > 2 * policy.max || [...text].length > policy.max)) {
    return `must be at most ${policy.max} characters`;
  }
  if (!rule.allowed.test(text)) {
    const at = firstRefused(rule, text);
    return `may hold only ${rule.allows} (not ${at.codePoint} at character ${at.position})`;
  }
  if (rule.blankRefused && text !== '' && text.trim() === '') return 'must not be blank';
  return null;
}

/** The first character `rule` refuses, as U+XXXX and its 1-based position in code points. */
function firstRefused(rule: KindRule, text: string): { codePoint: string; position: number } {
  let position = 0;
  for (const char of text) {
    position += 1;
    if (!rule.allowed.test(char)) {
      const hex = (char.codePointAt(0) as number).toString(16).toUpperCase().padStart(4, '0');
      return { codePoint: `U+${hex}`, position };
    }
  }
  return { codePoint: 'a character', position };
}
