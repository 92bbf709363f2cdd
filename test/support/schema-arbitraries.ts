/**
 * fast-check arbitraries for a mutation's arguments, derived from the schema: each String, ID,
 * Int, Float, Decimal, DateTime, enum and input object gets values a careful client would send,
 * values a careless one would, and values meant to break things. A mutation added to the schema
 * is covered with no change here.
 */
import fc from 'fast-check';
import {
  GraphQLNonNull, getNamedType, getNullableType, isEnumType, isInputObjectType, isLeafType, isListType, isNonNullType, isObjectType,
  type GraphQLField, type GraphQLInputType, type GraphQLOutputType,
} from 'graphql';

/** Ids seen in answers by GraphQL type name, and texts by field name, for arguments that refer to existing things. */
export type IdPools = Map<string, string[]>;

// Values that pass the services' formats, so the fuzz reaches past the first check.
const PLAUSIBLE: Record<string, string[]> = {
  currency: ['USD'], url: ['https://hooks.example.invalid/in'], events: ['*', 'points.earned'],
  trigger: ['PURCHASE', 'review'], type: ['review', 'check_in'], timezone: ['Europe/Paris', 'UTC'],
  locale: ['en', 'fr-FR'], email: ['ada@example.com'], birthDate: ['1990-05-17'], phone: ['+447700900123'],
  condition: ['true', 'purchase.amount > 10.0'], itemCondition: ['true'], code: ['GOLD', 'SILVER'],
  tierCode: ['GOLD', 'BASE'], partnerId: ['fuzz-partner'], tags: ['vip'], status: ['ACTIVE'],
};

const BREAKING = [
  '', ' ', '   ', '\u0000', 'a\u0000b', '\u200b', '\u202eabc', '\ufeff', 'a\ud800', '\udc00z', '\ufffd', '\n', '\t',
  'x'.repeat(5_000), '0', '-1', 'null', 'true', '1e309', "'; drop table members; --", '../../etc/passwd', '%s%n', '\\u0000',
];

/** Per scalar: what a careful client sends, and anything at all. */
interface Scalar { plausible: fc.Arbitrary<unknown>; wild: fc.Arbitrary<unknown> }

const text = (pools: IdPools, field: string): Scalar => ({
  plausible: fc.oneof(
    // A value seen under the same name in an answer (an orderId to refund; a key again), when there is one.
    { weight: 1, arbitrary: seen(pools, field) },
    { weight: 2, arbitrary: PLAUSIBLE[field] ? fc.constantFrom(...PLAUSIBLE[field]) : fresh },
    { weight: 2, arbitrary: fresh },
  ),
  wild: fc.oneof(
    { weight: 3, arbitrary: fc.string({ maxLength: 16 }) },
    { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 8 }) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }) },
    { weight: 4, arbitrary: fc.constantFrom(...BREAKING) },
    { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 20 }).map((s) => s.repeat(60)) },
  ),
});

const int: Scalar = {
  plausible: fc.integer({ min: 1, max: 500 }),
  wild: fc.oneof(
    { weight: 2, arbitrary: fc.integer({ min: -5, max: 2_000 }) },
    { weight: 2, arbitrary: fc.constantFrom(0, -1, 2_147_483_647, -2_147_483_648, 1_999_999_999, 10_000_001) },
    { weight: 1, arbitrary: fc.integer() },
  ),
};

const float: Scalar = {
  plausible: fc.constantFrom(1, 1.5, 2),
  wild: fc.oneof(fc.constantFrom(0, 100, 100.0001, -1, 1e-9, 1e308), fc.double({ noNaN: true, noDefaultInfinity: true })),
};

const decimal: Scalar = {
  plausible: fc.tuple(fc.integer({ min: 0, max: 2_000 }), fc.integer({ min: 0, max: 99 })).map(([u, c]) => `${u}.${String(c).padStart(2, '0')}`),
  wild: fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom('0', '0.00', '-1.00', '0.01', '999999999999.999999', '100000000.00', '99999999.9999', '1000.0001', '1e5', 'NaN', '', '12.3.4', ' 1.00') },
    { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0, max: 999_999_999 }), fc.integer({ min: 0, max: 999_999 })).map(([u, f]) => `${u}.${f}`) },
    { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
  ),
};

const DAY = 86_400_000;
const dateTime = (now: () => number): Scalar => ({
  plausible: fc.integer({ min: -400, max: 400 }).map((days) => new Date(now() + days * DAY).toISOString()),
  wild: fc.oneof(
    { weight: 2, arbitrary: fc.date({ min: new Date('1800-01-01T00:00:00Z'), max: new Date('3100-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString()) },
    { weight: 2, arbitrary: fc.constantFrom('2026-02-30T00:00:00Z', '2026-03-01T24:00:00Z', '0000-01-01T00:00:00Z', '9999-12-31T23:59:59Z', '1900-01-01T00:00:00Z', '2999-12-31T23:59:59Z', '2026-03-01T00:00:00+14:00', '2026-03-01', 'now', '') },
    { weight: 1, arbitrary: fc.string({ maxLength: 24 }) },
  ),
});

/** A new text each time: a key, an order, an external id never used before. */
const fresh = fc.uuid().map((u) => `fz-${u}`);

function seen(pools: IdPools, field: string): fc.Arbitrary<string> {
  return fc.tuple(fc.nat(), fresh).map(([n, other]) => {
    const pool = pools.get(field) ?? [];
    return pool.length ? pool[n % pool.length] as string : PLAUSIBLE[field]?.[0] ?? other;
  });
}

/** An id of the kind the input names (`memberId` a Member's), mostly one that exists. */
function id(pools: IdPools, kind: string | null): Scalar {
  const known = fc.nat().map((n) => {
    const pool = (kind && pools.get(kind)?.length ? pools.get(kind) : [...pools.values()].flat()) ?? [];
    return pool.length ? pool[n % pool.length] as string : '00000000-0000-4000-8000-000000000000';
  });
  return {
    plausible: known,
    wild: fc.oneof(known.map((v) => v.toUpperCase()), fc.uuid(), text(pools, 'id').wild),
  };
}

/** The type an id input refers to: `memberId`, `fromMemberId` → Member; `id` → what the mutation returns. */
function idKind(field: string, returned: string): string | null {
  if (field === 'id') return returned;
  const match = /([A-Za-z]+)Id$/.exec(field);
  if (!match) return null;
  const stem = (match[1] as string).replace(/^(from|to)/, '');
  const name = stem.charAt(0).toUpperCase() + stem.slice(1);
  return name === 'Transaction' ? 'PointsTransaction' : name;
}

/** The options of a fuzz: the ids seen so far, the service's clock, and how many values are wild (none, a quarter, half). */
interface Fuzz { pools: IdPools; now: () => number; wildness: 0 | 1 | 2 }

function valueOf(fuzz: Fuzz, type: GraphQLInputType, field: string, returned: string, depth: number): fc.Arbitrary<unknown> {
  const inner = getNullableType(type) as GraphQLInputType;
  if (!isNonNullType(type)) return fc.option(valueOf(fuzz, new GraphQLNonNull(inner), field, returned, depth), { nil: null, freq: 3 });
  if (isListType(inner)) return fc.array(valueOf(fuzz, inner.ofType, field, returned, depth), { maxLength: 3 });
  if (isEnumType(inner)) return fc.constantFrom(...inner.getValues().map((v) => v.name));
  if (isInputObjectType(inner)) {
    if (depth > 3) return fc.constant({});
    const fields = Object.values(inner.getFields());
    const model = Object.fromEntries(fields.map((f) => [f.name, valueOf(fuzz, f.type, f.name, returned, depth + 1)]));
    return fc.record(model, { requiredKeys: fields.filter((f) => isNonNullType(f.type)).map((f) => f.name) });
  }
  const scalar = scalarOf(fuzz, getNamedType(inner).name, field, returned);
  // A wild call keeps most values plausible, so the one that is not reaches past the first check.
  if (fuzz.wildness === 0) return scalar.plausible;
  return fc.oneof({ weight: fuzz.wildness === 1 ? 3 : 1, arbitrary: scalar.plausible }, { weight: 1, arbitrary: scalar.wild });
}

function scalarOf(fuzz: Fuzz, name: string, field: string, returned: string): Scalar {
  switch (name) {
    case 'ID': return id(fuzz.pools, idKind(field, returned));
    case 'String': return text(fuzz.pools, field);
    case 'Int': return int;
    case 'Float': return float;
    case 'Decimal': return decimal;
    case 'DateTime': return dateTime(fuzz.now);
    case 'Boolean': return { plausible: fc.boolean(), wild: fc.boolean() };
    case 'JSON': return { plausible: fc.dictionary(fc.stringMatching(/^[a-z]{1,8}$/), fc.oneof(fc.integer(), fc.string({ maxLength: 8 })), { maxKeys: 3 }), wild: fc.jsonValue({ maxDepth: 3 }) };
    default: return { plausible: fc.constant(null), wild: fc.constant(null) };
  }
}

/** A mutation's document (its result's ids selected, to feed the pools) and an arbitrary of its variables. */
export function mutationCase(pools: IdPools, now: () => number, mutation: GraphQLField<unknown, unknown>) {
  const returned = getNamedType(mutation.type).name;
  const declared = mutation.args.map((a) => `$${a.name}: ${String(a.type)}`).join(', ');
  const passed = mutation.args.map((a) => `${a.name}: $${a.name}`).join(', ');
  const document = `mutation${declared ? `(${declared})` : ''} { ${mutation.name}${passed ? `(${passed})` : ''} ${selection(mutation.type, 2)} }`;
  const requiredKeys = mutation.args.filter((a) => isNonNullType(a.type)).map((a) => a.name);
  const variables = (wildness: Fuzz['wildness']) => fc.record(
    Object.fromEntries(mutation.args.map((a) => [a.name, valueOf({ pools, now, wildness }, a.type, a.name, returned, 0)])), { requiredKeys },
  );
  return { document, variables: fc.oneof(variables(0), variables(1), variables(2)) };
}

/** `{ __typename` and every leaf `…}` down to `depth` levels, through fields that take no arguments. */
function selection(type: GraphQLOutputType, depth: number): string {
  const named = getNamedType(type);
  if (!isObjectType(named)) return '';
  const fields = Object.values(named.getFields()).filter((f) => f.args.length === 0);
  const nested = depth > 1
    ? fields.filter((f) => isObjectType(getNamedType(f.type))).map((f) => `${f.name} ${selection(f.type, depth - 1)}`)
    : [];
  const leaves = fields.filter((f) => isLeafType(getNamedType(f.type))).map((f) => f.name);
  return `{ __typename ${[...leaves, ...nested].join(' ')} }`;
}

/** Adds every `{ __typename, id }` of an answer to the pools, and every text by its field's name. */
export function harvest(pools: IdPools, value: unknown): void {
  if (Array.isArray(value)) return value.forEach((item) => harvest(pools, item));
  if (value === null || typeof value !== 'object') return;
  for (const [field, text] of Object.entries(value)) {
    if (field !== 'id' && field !== '__typename' && typeof text === 'string') remember(pools, field, text);
  }
  const { __typename: typename, id: found } = value as { __typename?: unknown; id?: unknown };
  if (typeof typename === 'string' && typeof found === 'string') remember(pools, typename, found);
  for (const item of Object.values(value)) harvest(pools, item);
}

function remember(pools: IdPools, name: string, value: string): void {
  const pool = pools.get(name) ?? [];
  if (!pool.includes(value)) pool.push(value);
  pools.set(name, pool);
}
