import { buildSchema, getNamedType, isInputObjectType, isObjectType } from 'graphql';
import { loadTypeDefs } from '../../src/graphql/schema';
import { DEFAULT_ID, DEFAULT_TEXT, TEXT_FIELDS, textPolicyFor, textProblem } from '../../src/graphql/text-policy';

describe('textProblem', () => {
  test.each([
    // field, text, problem (null: kept)
    ['idempotencyKey', 'order-42:retry/1', null],
    ['idempotencyKey', '   ', 'may hold only letters, digits, punctuation and symbols, with no spaces (not U+0020 at character 1)'],
    ['idempotencyKey', 'a\u00a0b', 'may hold only letters, digits, punctuation and symbols, with no spaces (not U+00A0 at character 2)'],
    ['idempotencyKey', 'k'.repeat(200), null],
    ['idempotencyKey', 'k'.repeat(201), 'must be at most 200 characters'],
    ['externalId', 'crm 00042', null],
    ['externalId', ' crm-1 ', null],
    ['externalId', '   ', 'must not be blank'],
    ['externalId', '\u200b', 'may hold only letters, digits, punctuation, symbols and spaces (not U+200B at character 1)'],
    ['externalId', 'a\u0000', 'may hold only letters, digits, punctuation, symbols and spaces (not U+0000 at character 2)'],
    ['externalId', 'a\ud800b', 'may hold only letters, digits, punctuation, symbols and spaces (not U+D800 at character 2)'],
    ['externalId', 'a\ufffd', 'may hold only letters, digits, punctuation, symbols and spaces (not U+FFFD at character 2)'],
    ['externalId', '\u{1F600}'.repeat(200), null],
    ['externalId', '\u{1F600}'.repeat(201), 'must be at most 200 characters'],
    ['code', 'GOLD_2026', null],
    ['code', 'GÖLD', 'may hold only printable ASCII characters (not U+00D6 at character 2)'],
    ['currency', 'USD', null],
    ['phone', '+44 7700 900123', null],
    ['name', 'Zoë Ångström-李 👩‍💻', null],
    ['name', 'Ada\u202eLovelace', 'may hold only letters, digits, punctuation, symbols and spaces, on one line (not U+202E at character 4)'],
    ['name', 'Ada\u2067x\u2069', 'may hold only letters, digits, punctuation, symbols and spaces, on one line (not U+2067 at character 4)'],
    ['name', 'Ada\r\nLovelace', 'may hold only letters, digits, punctuation, symbols and spaces, on one line (not U+000D at character 4)'],
    ['name', '   ', null],
    ['channel', 'w'.repeat(101), 'must be at most 100 characters'],
    ['category', 'c'.repeat(100), null],
    ['reason', 'line one\nline two\ttabbed', null],
    ['reason', 'r'.repeat(501), 'must be at most 500 characters'],
    ['reason', 'beep\u0007', 'may hold only letters, digits, punctuation, symbols, spaces and line breaks (not U+0007 at character 5)'],
    ['description', 'soft\u00adhyphen', 'may hold only letters, digits, punctuation, symbols, spaces and line breaks (not U+00AD at character 5)'],
    ['url', 'https://example.com/hook?a=1', null],
    ['url', 'https://example.com/ hook', 'may hold only letters, digits, punctuation and symbols, with no spaces (not U+0020 at character 21)'],
    // Not listed: the default, free text of 2000 characters.
    ['comment', 'Great service,\nthanks!', null],
    ['someFieldAddedLater', 'x'.repeat(2_001), 'must be at most 2000 characters'],
    ['someFieldAddedLater', 'x\u202e', 'may hold only letters, digits, punctuation, symbols, spaces and line breaks (not U+202E at character 2)'],
  ])('%s %j: %s', (field, text, problem) => {
    expect(textProblem(textPolicyFor(field, 'String'), text)).toBe(problem);
  });

  test('a 1 MB text is refused by its length without reading it character by character', () => {
    const text = '\u200b'.repeat(1 << 20);
    // Spreading or looping over a string asks String.prototype for its iterator: watched here.
    const iterated = jest.spyOn(String.prototype as unknown as Record<symbol, () => Iterator<string>>, Symbol.iterator);
    try {
      // A zero-width space is refused as a character too: the length is what was checked.
      expect(textProblem(textPolicyFor('channel', 'String'), text)).toBe('must be at most 100 characters');
      expect(iterated).not.toHaveBeenCalled();
      // The watch works: a text whose length leaves the answer open is counted in code points.
      expect(textProblem(textPolicyFor('channel', 'String'), '\u{1F600}'.repeat(100))).toBe(null);
      expect(iterated).toHaveBeenCalled();
    } finally {
      iterated.mockRestore();
    }
  });
});

describe('textPolicyFor', () => {
  test('an input not listed gets the default for its scalar', () => {
    expect(textPolicyFor('resolutionNote', 'String')).toBe(DEFAULT_TEXT);
    expect(textPolicyFor('complaintId', 'ID')).toBe(DEFAULT_ID);
    expect(DEFAULT_TEXT).toEqual({ kind: 'text', max: 2_000 });
    expect(DEFAULT_ID).toEqual({ kind: 'key', max: 200 });
  });

  test('no property of Object.prototype is taken for an entry', () => {
    expect(textPolicyFor('constructor', 'String')).toBe(DEFAULT_TEXT);
  });
});

describe('the table and the schema', () => {
  const schema = buildSchema(loadTypeDefs());
  const inputs = new Set<string>();
  for (const type of Object.values(schema.getTypeMap())) {
    if (isInputObjectType(type)) for (const field of Object.values(type.getFields())) inputs.add(`${field.name}:${getNamedType(field.type).name}`);
    if (isObjectType(type)) for (const field of Object.values(type.getFields())) for (const arg of field.args) inputs.add(`${arg.name}:${getNamedType(arg.type).name}`);
  }

  // Entries for inputs being added (feedback and complaints) are listed ahead of their schema.
  const AHEAD = new Set(['comment', 'resolution']);

  test('every entry names a String input of the schema (a misspelt entry would silently fall to the default)', () => {
    const strings = new Set([...inputs].filter((i) => i.endsWith(':String')).map((i) => i.split(':')[0]));
    expect(Object.keys(TEXT_FIELDS).filter((name) => !strings.has(name) && !AHEAD.has(name))).toEqual([]);
  });

  test('no listed name is also an ID input, whose default would then be overridden unseen', () => {
    expect(Object.keys(TEXT_FIELDS).filter((name) => inputs.has(`${name}:ID`))).toEqual([]);
  });
});
