import { BadInputError } from '../errors';

const EMAIL = /^[^\s@]{1,64}@[^\s@.]+(\.[^\s@.]+)+$/;
const BIRTH_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const PHONE = /^\+[1-9]\d{6,14}$/;
const LOCALE = /^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/;

export function checkExternalId(value: string): string {
  const trimmed = value.trim();
  if (trimmed.length < 1 || trimmed.length > 200) throw new BadInputError('externalId must be 1-200 characters', 'externalId');
  return trimmed;
}

export function checkEmail(value: string | null | undefined): string | null | undefined {
  if (value === null || value === undefined) return value;
  const trimmed = value.trim();
  if (trimmed.length > 254 || !EMAIL.test(trimmed)) throw new BadInputError(`"${value}" is not a valid e-mail address`, 'email');
  return trimmed.toLowerCase();
}

export function checkName(value: string | null | undefined): string | null | undefined {
  if (value === null || value === undefined) return value;
  const trimmed = value.trim();
  if (trimmed.length === 0 || trimmed.length > 200) throw new BadInputError('name must be 1-200 characters', 'name');
  return trimmed;
}

/** A real calendar date, YYYY-MM-DD, not after `today` and not before 1900. */
export function checkBirthDate(value: string | null | undefined, today: Date): string | null | undefined {
  if (value === null || value === undefined) return value;
  const match = BIRTH_DATE.exec(value);
  const fail = () => new BadInputError('birthDate must be a real date YYYY-MM-DD, not in the future', 'birthDate');
  if (!match) throw fail();
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) throw fail();
  if (year < 1900 || date.getTime() > today.getTime()) throw fail();
  return value;
}

export function checkPhone(value: string | null | undefined): string | null | undefined {
  if (value === null || value === undefined) return value;
  const compact = value.replace(/[\s-]/g, '');
  if (!PHONE.test(compact)) throw new BadInputError('phone must be in international form, e.g. +447700900123', 'phone');
  return compact;
}

export function checkLocale(value: string | null | undefined): string | null | undefined {
  if (value === null || value === undefined) return value;
  if (!LOCALE.test(value)) throw new BadInputError('locale must look like en or en-GB', 'locale');
  return value;
}

const REFERRAL_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';

/** An 8-character code without look-alike characters, from `random` bytes. */
export function referralCodeFrom(random: Uint8Array): string {
  let code = '';
  for (let i = 0; i < 8; i++) code += REFERRAL_ALPHABET[(random[i] ?? 0) % REFERRAL_ALPHABET.length];
  return code;
}

const MAX_TAGS = 50;
const TAG = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,49}$/;

/** A member's tags: at most 50, each 1-50 letters, digits, _ . : or -, trimmed; duplicates dropped. */
export function checkTags(tags: readonly string[]): string[] {
  if (tags.length > MAX_TAGS) throw new BadInputError(`at most ${MAX_TAGS} tags`, 'tags');
  const clean = [...new Set(tags.map((tag) => tag.trim()))];
  clean.forEach((tag, i) => {
    if (!TAG.test(tag)) throw new BadInputError(`tags[${i}] must be 1-50 letters, digits, _ . : or -, starting with a letter or digit`, 'tags');
  });
  return clean;
}
